// The TypeScript SDK's list calls, the request given as JSON. Prints {count} (how many items
// came back), or {status, error} when the server refused the call.
//   node lists.mjs logs REQ → logs(REQ)
//   node lists.mjs dlq REQ  → dlq.listMessages(REQ)
// QSTASH_URL / QSTASH_TOKEN come from the environment (set by the test).
import { Client } from "@upstash/qstash";

const qstash = new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });

const calls = {
  logs: async (request) => (await qstash.logs(request)).logs,
  dlq: async (request) => (await qstash.dlq.listMessages(request)).messages,
};

const [command, request] = process.argv.slice(2);
if (!calls[command]) throw new Error(`unknown command ${command}`);
try {
  const items = await calls[command](JSON.parse(request));
  process.stdout.write(JSON.stringify({ count: items.length }));
} catch (error) {
  if (error.status === undefined) throw error;
  process.stdout.write(JSON.stringify({ status: error.status, error: error.message }));
}
