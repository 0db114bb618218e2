// The TypeScript SDK's bulk actions in their filter and "all" forms; every command prints JSON.
//   node bulk_actions.mjs messages   → cancel([]), cancel({filter: {label: "a"}}), cancel({all: true})
//   node bulk_actions.mjs dlq        → delete({filter}), retry({all, count: 1}) twice, delete({all})
//   node bulk_actions.mjs cancel REQ → messages.cancel(REQ), REQ being JSON ({filter: …}, {all: …})
// Kept apart from publish_and_verify.mjs, which other work extends at the same time.
// QSTASH_URL / QSTASH_TOKEN come from the environment (set by the test).
import { Client } from "@upstash/qstash";

const qstash = new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });

async function messages() {
  const none = await qstash.messages.cancel([]);
  const byFilter = await qstash.messages.cancel({ filter: { label: "a" } });
  const all = await qstash.messages.cancel({ all: true });
  process.stdout.write(JSON.stringify({ none, byFilter, all }));
}

async function dlq() {
  const byFilter = await qstash.dlq.delete({ filter: { label: "x" } });
  const first = await qstash.dlq.retry({ all: true, count: 1 });
  const second = await qstash.dlq.retry({ all: true, count: 1, cursor: first.cursor });
  const all = await qstash.dlq.delete({ all: true });
  const left = await qstash.dlq.listMessages();
  process.stdout.write(JSON.stringify({ byFilter, first, second, all, left: left.messages }));
}

async function cancel(request) {
  process.stdout.write(JSON.stringify(await qstash.messages.cancel(JSON.parse(request))));
}

const commands = { messages, dlq, cancel };
const [command, ...args] = process.argv.slice(2);
if (!commands[command]) throw new Error(`unknown command ${command}`);
await commands[command](...args);
