// One @upstash/workflow Client call against hookstream; prints its answer as JSON.
// Usage: node trigger.mjs '<json>' with {op: "trigger", options} (Client.trigger's options),
// {op: "cancel", ids}, {op: "logs", params}, {op: "notify", params}, {op: "waiters", params}
// or {op: "dlq", params}; {op: "resume" | "restart", ids, options}, {op: "retryFailure", id}.
// Environment: QSTASH_URL, QSTASH_TOKEN.
import { Client } from "@upstash/workflow";

const client = new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });
const request = JSON.parse(process.argv[2]);
const calls = {
  trigger: () => client.trigger(request.options),
  cancel: () => client.cancel(request.ids),
  logs: () => client.logs(request.params),
  notify: () => client.notify(request.params),
  waiters: () => client.getWaiters(request.params),
  dlq: () => client.dlq.list(request.params),
  // --- wfdlq ---
  resume: () => client.dlq.resume(request.ids, request.options),
  restart: () => client.dlq.restart(request.ids, request.options),
  retryFailure: () => client.dlq.retryFailureFunction({ dlqId: request.id }),
};
try {
  console.log(JSON.stringify(await calls[request.op]()));
} catch (error) {
  console.log(JSON.stringify({ error: String(error) }));
  process.exitCode = 1;
}
