// Workflow endpoints on @upstash/workflow's `serve`, behind node:http, pointed at hookstream.
// Environment: PORT, QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY,
// QSTASH_NEXT_SIGNING_KEY, MOCK_URL (the test's third-party API). It prints "ready" once
// listening. GET /stats?runId=<id> answers what ran for a run: {calls, empty, bodies, failures,
// times}; GET /flowstats the peak of concurrent deliveries to /flow.
import http from "node:http";
import { Client, Receiver } from "@upstash/qstash";
import { serve, WorkflowNonRetryableError } from "@upstash/workflow";
import { createWorkflow, serveMany } from "@upstash/workflow/nextjs";

const port = Number(process.env.PORT);
const base = `http://127.0.0.1:${port}`;
const mock = process.env.MOCK_URL;
const stats = new Map();
// Deliveries to /flow in progress right now, and the most there ever were at once.
const flow = { inflight: 0, peak: 0 };
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function of(runId) {
  if (!stats.has(runId)) {
    stats.set(runId, { calls: 0, empty: 0, bodies: {}, failures: [], times: [] });
  }
  return stats.get(runId);
}

// Counts how often a step's body really ran (a replayed step does not run its body).
function once(context, name) {
  const entry = of(context.workflowRunId);
  entry.bodies[name] = (entry.bodies[name] ?? 0) + 1;
}

async function failureFunction({ context, failStatus, failResponse }) {
  of(context.workflowRunId).failures.push({ failStatus, failResponse, payload: context.requestPayload });
}

const routes = {
  "/path": async (context) => {
    const input = context.requestPayload;
    const first = await context.run("first", () => {
      once(context, "first");
      return `${input.text}|first`;
    });
    const second = await context.run("second", () => {
      once(context, "second");
      return `${first}|${context.headers.get("x-custom")}`;
    });
    const third = await context.run("third", () => {
      once(context, "third");
      return `${second}|third`;
    });
    return { result: third };
  },
  "/sleep": async (context) => {
    await context.run("before", () => once(context, "before"));
    await context.sleep("nap", 2);
    await context.run("after", () => once(context, "after"));
    // A unix time in seconds; replays compute another one, but the step already stands.
    await context.sleepUntil("until", Math.floor(Date.now() / 1000) + 2);
    await context.run("last", () => once(context, "last"));
    return "slept";
  },
  "/parallel": async (context) => {
    const [a, b] = await Promise.all([
      context.run("a", () => {
        once(context, "a");
        return "A";
      }),
      context.run("b", () => {
        once(context, "b");
        return "B";
      }),
      context.sleep("pause", 1),
    ]);
    const joined = await context.run("join", () => {
      once(context, "join");
      return a + b;
    });
    return joined;
  },
  "/call": async (context) => {
    const ok = await context.call("ok", {
      url: `${mock}/ok`,
      method: "POST",
      body: { hello: "wörld" },
      headers: { "x-from": "workflow" },
    });
    const failed = await context.call("fails", { url: `${mock}/fails`, method: "GET", retries: 2 });
    return {
      ok: { status: ok.status, body: ok.body, header: ok.header["X-Mock"] ?? ok.header["x-mock"] },
      failed: { status: failed.status, body: failed.body },
    };
  },
  "/fail": async (context) => {
    await context.run("fine", () => once(context, "fine"));
    await context.run("boom", () => {
      once(context, "boom");
      throw new Error("boom happened");
    });
    return "unreachable";
  },
  "/nonretryable": async (context) => {
    await context.run("stop", () => {
      once(context, "stop");
      throw new WorkflowNonRetryableError("do not retry this");
    });
    return "unreachable";
  },
  "/long": async (context) => {
    await context.run("start", () => once(context, "start"));
    await context.sleep("long-nap", 30);
    await context.run("never", () => once(context, "never"));
    return "unreachable";
  },
  "/big": async (context) => {
    const one = await context.run("one", () => {
      once(context, "one");
      return "a".repeat(1500);
    });
    const two = await context.run("two", () => {
      once(context, "two");
      return "b".repeat(1500);
    });
    return { payload: context.requestPayload.length, one: one.length, two: two.length };
  },
  "/wait": async (context) => {
    const { event, timeout } = context.requestPayload;
    const waited = await context.waitForEvent("for-event", event, { timeout });
    await context.run("after", () => once(context, "after"));
    return waited;
  },
  "/flow": async (context) => {
    await context.run("hold", async () => {
      once(context, "hold");
      await pause(150);
    });
    await context.run("again", async () => {
      once(context, "again");
      await pause(150);
    });
    return "done";
  },
  "/retries": async (context) => {
    await context.run("fine", () => once(context, "fine"));
    await context.run("flaky", () => {
      once(context, "flaky");
      throw new Error("always fails");
    });
    return "unreachable";
  },
  // --- wfhooks ---
  "/webhook": async (context) => {
    const webhook = await context.createWebhook("hook");
    // The test reads the URL from /stats and calls it, like a third party would.
    await context.run("announce", () => {
      once(context, "announce");
      of(context.workflowRunId).webhook = webhook.webhookUrl;
    });
    const called = await context.waitForWebhook("for-call", webhook, context.requestPayload.timeout);
    if (called.timeout) return { timeout: true, request: called.request ?? null };
    const { request } = called;
    return {
      timeout: false,
      method: request.method,
      url: request.url,
      header: request.headers.get("x-hook"),
      body: await request.text(),
    };
  },
  // --- wfdlq ---
  // A step that fails while the mock API's /flaky answers other than 200 (the test decides).
  "/dlq-flaky": async (context) => {
    const input = context.requestPayload;
    const before = await context.run("before", () => {
      once(context, "before");
      return `${input.text}|${context.headers.get("x-custom")}`;
    });
    const flaky = await context.run("flaky", async () => {
      once(context, "flaky");
      const answer = await fetch(`${mock}/flaky`);
      if (answer.status !== 200) throw new Error(`flaky answered ${answer.status}`);
      return await answer.text();
    });
    const after = await context.run("after", () => {
      once(context, "after");
      return `${before}|${flaky}|after`;
    });
    return after;
  },
  // --- wfops ---
  "/twofail": async (context) => {
    await Promise.all([
      context.run("left", () => {
        once(context, "left");
        throw new Error("left failed");
      }),
      context.run("right", () => {
        once(context, "right");
        throw new Error("right failed");
      }),
    ]);
    return "unreachable";
  },
};

const options = {
  qstashClient: new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN }),
  receiver: new Receiver({
    currentSigningKey: process.env.QSTASH_CURRENT_SIGNING_KEY,
    nextSigningKey: process.env.QSTASH_NEXT_SIGNING_KEY,
  }),
  baseUrl: base,
  failureFunction,
};
// Under /open, the same workflows without signature checks: the SDK then accepts a direct
// call, which starts a run (with a receiver, only hookstream's signed deliveries get in).
const handlers = Object.fromEntries(
  Object.entries(routes).flatMap(([path, fn]) => [
    [path, serve(fn, options).handler],
    [`/open${path}`, serve(fn, { ...options, receiver: undefined }).handler],
  ]),
);

// --- wfinvoke ---
// context.invoke between workflows served together by serveMany under /invoke/<workflowId>:
// the parent invokes `child` (which succeeds) or `failing` (whose step throws, retries 0),
// as its payload's `child` says, and returns what the invoke answered.
const invokeChild = createWorkflow(async (context) => {
  const got = await context.run("child-step", () => {
    once(context, "child-step");
    return `${context.requestPayload.text}|${context.headers.get("x-invoked")}`;
  });
  return { got };
});
const invokeFailing = createWorkflow(async (context) => {
  await context.run("child-boom", () => {
    once(context, "child-boom");
    throw new Error("child failed");
  });
  return "unreachable";
});
const invokeParent = createWorkflow(async (context) => {
  await context.run("before", () => once(context, "before"));
  const answer = await context.invoke("call-child", {
    workflow: context.requestPayload.child === "failing" ? invokeFailing : invokeChild,
    body: { text: "from the parent ✓" },
    headers: { "x-invoked": "inv-1" },
    retries: 0,
  });
  await context.run("after", () => once(context, "after"));
  return answer;
});
const invokeMany = serveMany(
  { parent: invokeParent, child: invokeChild, failing: invokeFailing },
  options,
).POST;
for (const id of ["parent", "child", "failing"]) handlers[`/invoke/${id}`] = invokeMany;

async function toRequest(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const body = ["GET", "HEAD"].includes(req.method) ? undefined : Buffer.concat(chunks);
  const runId = headers.get("upstash-workflow-runid");
  if (runId) {
    of(runId).calls += 1;
    of(runId).times.push(Date.now());
    if (!body?.length) of(runId).empty += 1; // LazyFetch: the SDK fetches the steps
  }
  return new Request(base + req.url, { method: req.method, headers, body });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, base);
  if (url.pathname === "/flowstats") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(flow));
    return;
  }
  if (url.pathname === "/stats") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(stats.get(url.searchParams.get("runId")) ?? null));
    return;
  }
  const handler = handlers[url.pathname];
  if (!handler) {
    res.statusCode = 404;
    res.end();
    return;
  }
  const request = await toRequest(req);
  const flowing = url.pathname === "/flow";
  if (flowing) flow.peak = Math.max(flow.peak, ++flow.inflight);
  const response = await handler(request).finally(() => flowing && flow.inflight--);
  res.statusCode = response.status;
  response.headers.forEach((value, name) => res.setHeader(name, value));
  res.end(Buffer.from(await response.arrayBuffer()));
});
server.listen(port, "127.0.0.1", () => console.log("ready"));
