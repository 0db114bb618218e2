// One headless Chromium, driven by Playwright for the Python tests (tests/browser/chromium.py).
//
//   node driver.mjs <chromium executable> <fresh profile folder>
//
// Reads one JSON request a line on stdin ({"id", "op", ...arguments}) and answers each with
// one JSON line on stdout ({"id", "ok": true, "value"} or {"id", "ok": false, "error"}).
// Elements are named by locator specs ({"role", "name"} | {"label"} | {"text"} | {"css"},
// optionally {"hasText"}, {"nth"} and an {"inner"} spec searched inside), so the tests find
// controls the way a screen reader names them.

import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [executablePath, userDataDir] = process.argv.slice(2);
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath, headless: true, args: ARGS, viewport: { width: 1280, height: 900 },
});
context.setDefaultTimeout(10000);
let page = null;
let seen = { console: [], pageErrors: [], foreign: [] };

function locate(spec, root = page) {
  let found;
  if (spec.role) found = root.getByRole(spec.role, { name: spec.name, exact: true });
  else if (spec.label) found = root.getByLabel(spec.label, { exact: true });
  else if (spec.text) found = root.getByText(spec.text, { exact: Boolean(spec.exact) });
  else found = root.locator(spec.css);
  if (spec.hasText) found = found.filter({ hasText: spec.hasText });
  if (spec.nth !== undefined) found = found.nth(spec.nth);
  return spec.inner ? locate(spec.inner, found) : found;
}

// A fresh tab (so a fresh sessionStorage) that records what a page should never do.
async function open({ url }) {
  await page?.close();
  seen = { console: [], pageErrors: [], foreign: [] };
  page = await context.newPage();
  const origin = new URL(url).origin;
  page.on('console', (message) => { if (message.type() === 'error') seen.console.push(message.text()); });
  page.on('pageerror', (error) => seen.pageErrors.push(error.message));
  page.on('request', (request) => {
    if (new URL(request.url()).origin !== origin) seen.foreign.push(request.url());
  });
  const response = await page.goto(url);
  return response ? response.headers() : {};
}

async function wait({ loc, text, state = 'visible', timeout }) {
  const found = text === undefined ? locate(loc) : locate(loc).filter({ hasText: text });
  await found.first().waitFor({ state, timeout });
}

const focused = () => page.evaluate(() => {
  const el = document.activeElement;
  return { tag: el.tagName.toLowerCase(), id: el.id, text: (el.textContent || '').trim().slice(0, 80), label: el.getAttribute('aria-label') };
});

const OPS = {
  open,
  wait,
  goto: ({ url }) => page.goto(url).then(() => null),
  click: ({ loc }) => locate(loc).click(),
  fill: ({ loc, value }) => locate(loc).fill(value),
  check: ({ loc }) => locate(loc).check(),
  select: ({ loc, value }) => locate(loc).selectOption(value).then(() => null),
  press: ({ loc, key }) => (loc ? locate(loc).press(key) : page.keyboard.press(key)),
  text: ({ loc }) => locate(loc).innerText(),
  texts: ({ loc }) => locate(loc).allInnerTexts(),
  count: ({ loc }) => locate(loc).count(),
  enabled: ({ loc }) => locate(loc).isEnabled(),
  attribute: ({ loc, name }) => locate(loc).getAttribute(name),
  evaluate: ({ expression }) => page.evaluate(expression),
  focused,
  screenshot: ({ path }) => page.screenshot({ path, fullPage: true }).then(() => null),
  seen: () => seen,
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const { id, op, ...args } = JSON.parse(line);
  if (op === 'close') break;
  try {
    const value = await OPS[op](args);
    process.stdout.write(`${JSON.stringify({ id, ok: true, value: value ?? null })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ id, ok: false, error: String(error.message || error) })}\n`);
  }
}
await context.close();
process.exit(0); // stdin, still open, would keep Node running
