// Publish with the official TypeScript SDK, or verify a delivery's signature with its Receiver.
//   node publish_and_verify.mjs publish <destination> <body>       → prints the SDK's answer
//   node publish_and_verify.mjs verify                              → reads JSON from stdin
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

const [command, ...args] = process.argv.slice(2);
if (command === "publish") await publish(...args);
else if (command === "verify") await verify();
else throw new Error(`unknown command ${command}`);
