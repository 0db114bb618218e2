// Drive hookstream with the official TypeScript SDK; every command prints JSON.
//   node publish_and_verify.mjs publish <destination> <body>   → the SDK's publish answer
//   node publish_and_verify.mjs verify                          → reads {signature, body, url}
//   node publish_and_verify.mjs messages <destination>          → publish delayed, get, cancel, logs
//   node publish_and_verify.mjs delivered <messageId>           → get and cancel a delivered message
//   node publish_and_verify.mjs logs <filter JSON>              → message ids of logs({filter})
//   node publish_and_verify.mjs dlq                             → list, get-by-filter, retry, delete
//   node publish_and_verify.mjs routing <base destination URL>  → URL group, queue, batch, flow control
//   node publish_and_verify.mjs schedules <destination>         → create, get, pause, resume, list, delete
//   node publish_and_verify.mjs schedule-keys <destination>     → get a bare and a flow-controlled one
//   node publish_and_verify.mjs ratelimit <calls>               → queues.list until it throws: the error
// QSTASH_URL / QSTASH_TOKEN / QSTASH_*_SIGNING_KEY come from the environment (set by the test).
import { Client, Receiver } from "@upstash/qstash";

async function publish(destination, body) {
  const client = new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });
  const answer = await client.publishJSON({
    url: destination,
    body: JSON.parse(body),
    headers: { "x-from-ts": "yes" },
  });
  process.stdout.write(JSON.stringify(answer));
}

async function verify() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const { signature, body, url } = JSON.parse(input);
  const receiver = new Receiver({
    currentSigningKey: process.env.QSTASH_CURRENT_SIGNING_KEY,
    nextSigningKey: process.env.QSTASH_NEXT_SIGNING_KEY,
  });
  const valid = await receiver.verify({ signature, body, url });
  process.stdout.write(JSON.stringify({ valid }));
}

function client() {
  return new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });
}

async function messages(destination) {
  const qstash = client();
  const { messageId } = await qstash.publish({ url: destination, body: "later", delay: 60 });
  const message = await qstash.messages.get(messageId);
  const cancelled = await qstash.messages.cancel(messageId);
  const logs = await qstash.logs({ filter: { messageId } });
  process.stdout.write(JSON.stringify({ messageId, message, cancelled, states: logs.logs.map((l) => l.state) }));
}

async function delivered(messageId) {
  const qstash = client();
  const message = await qstash.messages.get(messageId);
  const cancelStatus = await qstash.messages.cancel(messageId).then(() => 200, (error) => error.status);
  process.stdout.write(JSON.stringify({ message, cancelStatus }));
}

async function logs(filter) {
  const { logs: found } = await client().logs({ filter: JSON.parse(filter) });
  process.stdout.write(JSON.stringify({ ids: [...new Set(found.map((l) => l.messageId))] }));
}

async function dlq() {
  const qstash = client();
  const listed = await qstash.dlq.listMessages();
  const ids = listed.messages.map((m) => m.dlqId);
  const retried = await qstash.dlq.retry(ids[0]);
  const deleted = await qstash.dlq.delete(ids.slice(1));
  const left = await qstash.dlq.listMessages();
  process.stdout.write(JSON.stringify({ listed: listed.messages, retried, deleted, left: left.messages }));
}

async function routing(base) {
  const qstash = client();
  await qstash.urlGroups.addEndpoints({ name: "ts-group", endpoints: [{ url: `${base}/g1` }, { url: `${base}/g2`, name: "two" }] });
  const group = await qstash.urlGroups.get("ts-group");
  const fanOut = await qstash.publishJSON({ urlGroup: "ts-group", body: { to: "group" } });
  const queue = qstash.queue({ queueName: "ts-queue" });
  await queue.upsert({ parallelism: 1 });
  const enqueued = await queue.enqueueJSON({ url: `${base}/q`, body: { to: "queue" } });
  const queueInfo = await queue.get();
  const batch = await qstash.batchJSON([
    { url: `${base}/b1`, body: { n: 1 } },
    { urlGroup: "ts-group", body: { n: 2 } },
  ]);
  await qstash.publishJSON({
    url: `${base}/fc`, body: { to: "flow" }, flowControl: { key: "ts-flow", parallelism: 2, rate: 5, period: "10s" },
  });
  const flow = await qstash.flowControl.get("ts-flow");
  process.stdout.write(JSON.stringify({ group, fanOut, enqueued, queueInfo, batch, flow }));
}

async function schedules(destination) {
  const qstash = client();
  const { scheduleId } = await qstash.schedules.create({
    destination, cron: "0 4 * * *", body: JSON.stringify({ from: "ts" }), scheduleId: "ts-daily", retries: 2,
  });
  const created = await qstash.schedules.get(scheduleId);
  await qstash.schedules.pause({ schedule: scheduleId });
  const paused = await qstash.schedules.get(scheduleId);
  await qstash.schedules.resume({ schedule: scheduleId });
  const listed = await qstash.schedules.list();
  await qstash.schedules.delete(scheduleId);
  const left = await qstash.schedules.list();
  process.stdout.write(JSON.stringify({ scheduleId, created, paused: paused.isPaused, listed, left }));
}

async function scheduleKeys(destination) {
  const qstash = client();
  const cron = "0 4 * * *";
  const bare = await qstash.schedules.create({ destination, cron, scheduleId: "ts-bare" });
  const flowControl = { key: "ts-sched-flow", parallelism: 2, rate: 5, period: "1m" };
  const flow = await qstash.schedules.create({ destination, cron, body: "hi", flowControl, scheduleId: "ts-flow" });
  const shown = { bare: await qstash.schedules.get(bare.scheduleId), flow: await qstash.schedules.get(flow.scheduleId) };
  process.stdout.write(JSON.stringify({ ...shown, listed: await qstash.schedules.list() }));
}



async function ratelimit(calls) {
  const qstash = client();
  for (let call = 1; call <= Number(calls); call++) {
    try {
      await qstash.queue().list();
    } catch (error) {
      const { name, limit, remaining, reset } = error;
      process.stdout.write(JSON.stringify({ call, name, limit, remaining, reset }));
      return;
    }
  }
  process.stdout.write(JSON.stringify({ call: null }));
}

const commands = {
  publish, verify, messages, delivered, logs, dlq, routing, schedules, "schedule-keys": scheduleKeys,
  ratelimit,
};
const [command, ...args] = process.argv.slice(2);
if (!commands[command]) throw new Error(`unknown command ${command}`);
await commands[command](...args);
