// One message: what is stored of it, and its timeline (every attempt with its status,
// response, duration and next retry), from the events log.

import { api } from '../api.js';
import { action, add, confirmAction, facts, fmtDuration, h, notice, pre, run, table, time } from '../dom.js';
import { eventDetails, go, headerRows, stateBadge } from '../lists.js';

const MAX_PAGES = 10; // pages of the log read at once: 10 × 20,000 events examined at most
const FINAL = new Set(['DELIVERED', 'FAILED', 'CANCELED']);
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SKEW_MS = 5 * 60000;

// A message id is msg_<partition>_<ULID>, the ULID starting with its creation time. The log's
// cursor is a position `<ms>-<seq>/<partition>`; starting a little before that time skips the
// older events. Any other id is searched from the start of the log.
function startCursor(id) {
  const ulid = /^msg_\d+_([0-9A-HJKMNP-TV-Z]{26})$/.exec(id);
  if (!ulid) return undefined;
  const ms = [...ulid[1].slice(0, 10)].reduce((value, c) => value * 32 + CROCKFORD.indexOf(c), 0);
  return `${Math.max(0, ms - SKEW_MS)}-0/0`;
}

async function readEvents(id, cursor) {
  const events = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = { messageId: id, order: 'earliestFirst', count: 1000, cursor };
    const found = await api('GET', '/v2/events', { query }).catch((error) => {
      if (error.status === 400 && cursor) return { events: [], cursor: undefined, retry: true };
      throw error;
    });
    if (found.retry) return readEvents(id, undefined); // a cursor this server does not take
    events.push(...found.events);
    cursor = found.cursor;
    if (!cursor) break;
  }
  return { events, more: cursor };
}

// Group the log into attempts: each ACTIVE starts one; its outcome and next retry follow.
export function attempts(events) {
  const found = [];
  for (const event of events) {
    if (event.state === 'ACTIVE') found.push({ number: found.length + 1, started: event.time });
    const attempt = found[found.length - 1];
    if (!attempt) continue;
    if (event.state === 'DELIVERED' || event.state === 'ERROR') {
      Object.assign(attempt, { outcome: event.state, ended: event.time, event });
    }
    if (event.state === 'RETRY') attempt.nextRetry = event.nextDeliveryTime;
    if (event.state === 'FAILED') attempt.outcome = 'FAILED';
  }
  return found;
}

// The error of an attempt, unless it only repeats the status.
const eventError = (e) => (e?.error && e.error !== `HTTP ${e.responseStatus}` ? e.error : '');

const ATTEMPT_COLUMNS = [
  ['Attempt', (a) => String(a.number)],
  ['Started', (a) => time(a.started)],
  ['Took', (a) => (a.ended ? fmtDuration(a.ended - a.started) : 'in flight')],
  ['Outcome', (a) => (a.outcome ? stateBadge(a.outcome) : '—')],
  ['HTTP status', (a) => (a.event?.responseStatus ? String(a.event.responseStatus) : '—')],
  ['Response', (a) => [eventError(a.event), a.event?.responseBody && pre(a.event.responseBody, `Response of attempt ${a.number}`)]],
  ['Next attempt', (a) => (a.nextRetry ? time(a.nextRetry) : '—')],
];

const EVENT_COLUMNS = [
  ['Time', (e) => time(e.time)],
  ['State', (e) => stateBadge(e.state)],
  ['Details', eventDetails],
];

async function stored(id) {
  try {
    return await api('GET', `/v2/messages/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

export function messageFacts(m) {
  return facts([
    ['URL', m.url], ['Method', m.method], ['Created', time(m.createdAt)],
    ['Not before', time(m.notBefore)], ['Retries', String(m.maxRetries)],
    ['Queue', m.queueName || '—'], ['URL group', m.topicName || '—'],
    ['Schedule', m.scheduleId || '—'], ['Labels', (m.labels || []).join(', ') || '—'],
    ['Flow-control key', m.flowControlKey || '—'],
  ]);
}

// Request headers and body of a Message or DLQ message, shown as text.
export function request(m, what) {
  const headers = [['Header', (r) => r.name], ['Values', (r) => r.values]];
  const body = m.body !== undefined ? m.body : m.bodyBase64 && `base64: ${m.bodyBase64}`;
  return [
    table(`${what} headers`, headers, headerRows(m.header), 'No headers.'),
    h('h3', {}, `${what} body`), pre(body || '', `${what} body`),
  ];
}

function cancelButton(id, ctx) {
  return action('Cancel message', async (event) => {
    const ok = await confirmAction('Cancel this message?', 'It will not be delivered (again). An attempt in flight finishes first.', 'Cancel message');
    if (!ok) return;
    await run(event.target, () => api('DELETE', `/v2/messages/${encodeURIComponent(id)}`));
    notice(`Cancel requested for ${id}.`);
    ctx.reload();
  });
}

function storedSection(id, message, last, ctx) {
  if (!message) {
    return h('p', {}, 'hookstream no longer stores this message (delivered and cancelled messages are removed; dead letters expire after the DLQ retention). Its events follow.');
  }
  const dead = last === 'FAILED' && h('p', {}, h('a', { href: `#/dlq?messageId=${encodeURIComponent(id)}` }, 'It is in the DLQ: retry or delete it there.'));
  return h('section', { 'aria-labelledby': 'stored-title' },
    h('h2', { id: 'stored-title' }, 'Message'), messageFacts(message), dead,
    !FINAL.has(last) && cancelButton(id, ctx), request(message, 'Request'));
}

export function finder() {
  const input = h('input', { id: 'find-id', name: 'id', required: true, autocomplete: 'off' });
  const onsubmit = (event) => { event.preventDefault(); go(`#/message/${encodeURIComponent(input.value.trim())}`); };
  return h('form', { class: 'finder', role: 'search', 'aria-label': 'Find a message', onsubmit },
    h('div', { class: 'field' }, h('label', { for: 'find-id' }, 'Find message by id'), input),
    h('button', { type: 'submit' }, 'Show timeline'));
}

export async function render(view, ctx) {
  const id = ctx.parts[0] || '';
  add(view, h('h1', { tabindex: -1 }, 'Message ', h('span', { class: 'id' }, id)), finder());
  if (!id) return;
  const [message, log] = await Promise.all([stored(id), readEvents(id, startCursor(id))]);
  const last = log.events.length ? log.events[log.events.length - 1].state : undefined;
  add(view,
    h('h2', {}, 'Attempts'),
    table('Delivery attempts', ATTEMPT_COLUMNS, attempts(log.events), 'No attempt yet.'),
    h('h2', {}, 'Timeline'),
    table('Every event of the message, oldest first', EVENT_COLUMNS, log.events, 'No event of this message in the log.'),
    log.more && h('p', {}, 'The log is long: only its first part was searched. ', h('a', { href: `#/events?messageId=${encodeURIComponent(id)}&order=earliestFirst&cursor=${encodeURIComponent(log.more)}` }, 'Search further')),
    storedSection(id, message, last, ctx),
  );
}
