// The dead-letter queue: filter, inspect a dead letter's last response, retry or delete
// the selected ones after a confirmation.

import { api } from '../api.js';
import { action, add, canWrite, confirmAction, facts, h, messageLink, notice, pre, replace, run, table, time } from '../dom.js';
import { filterForm, headerRows, listQuery, pager } from '../lists.js';
import { messageFacts, request } from './message.js';

const FILTERS = [
  'messageId', 'url', 'topicName', 'queueName', 'scheduleId', 'label', 'flowControlKey',
  'responseStatus', 'fromDate', 'toDate', 'order',
];
const PAGE_SIZE = 50;
const deadAt = (dlqId) => Number(dlqId.split('-')[0]); // a DLQ id starts with its stream time

function lastResponse(m) {
  const headers = [['Header', (r) => r.name], ['Values', (r) => r.values]];
  const body = m.responseBody !== undefined ? m.responseBody : m.responseBodyBase64 && `base64: ${m.responseBodyBase64}`;
  return [
    h('h3', {}, 'Last response'),
    facts([['HTTP status', m.responseStatus ? String(m.responseStatus) : 'no answer'], ['Error', m.error || '—']]),
    table('Response headers', headers, headerRows(m.responseHeader), 'No response headers.'),
    h('h4', {}, 'Response body'), pre(body || '', 'Response body'),
  ];
}

function showDetail(detail, m) {
  const title = h('h2', { id: 'detail-title', tabindex: -1 }, 'Dead letter ', h('span', { class: 'id' }, m.dlqId));
  replace(detail, title, messageFacts(m), h('p', {}, 'Timeline: ', messageLink(m.messageId)),
    lastResponse(m), h('h3', {}, 'Request'), request(m, 'Request'));
  detail.hidden = false;
  title.focus();
}

const SAYS = {
  retry: ['Retry', (n) => `Each of the ${n} is published again as a new message, with its original URL, body and settings, and leaves the DLQ. Their old ids keep their history.`],
  delete: ['Delete', (n) => `The ${n} are removed from the DLQ for good and will not be delivered.`],
};

async function bulk(kind, ids, button, ctx) {
  const [verb, text] = SAYS[kind];
  const noun = ids.length === 1 ? 'dead letter' : 'dead letters';
  if (!(await confirmAction(`${verb} ${ids.length} ${noun}?`, text(`${ids.length} ${noun}`), `${verb} ${ids.length}`))) return;
  const done = await run(button, () => (kind === 'retry'
    ? api('POST', '/v2/dlq/retry', { json: { dlqIds: ids } })
    : api('DELETE', '/v2/dlq', { json: { dlqIds: ids } })));
  if (!done) return;
  notice(kind === 'retry'
    ? `Retried ${done.responses.length}: new message ids ${done.responses.map((r) => r.messageId).join(', ')}.`
    : `Deleted ${done.deleted}.`);
  ctx.reload();
}

function selectionTable(messages, selected, buttons, detail) {
  const sync = () => {
    for (const b of buttons) b.disabled = !selected.size || !canWrite();
    buttons[0].textContent = `Retry selected (${selected.size})`;
    buttons[1].textContent = `Delete selected (${selected.size})`;
  };
  const boxes = [];
  const box = (m) => {
    const input = h('input', { type: 'checkbox', 'aria-label': `Select ${m.dlqId}`, onchange: () => { input.checked ? selected.add(m.dlqId) : selected.delete(m.dlqId); sync(); } });
    boxes.push(input);
    return input;
  };
  const all = h('input', { type: 'checkbox', 'aria-label': 'Select all on this page', onchange: () => { for (const b of boxes) if (b.checked !== all.checked) b.click(); } });
  sync();
  return table('Dead letters', [
    [all, box], ['DLQ id', (m) => h('span', { class: 'id' }, m.dlqId)], ['Message', (m) => messageLink(m.messageId)],
    ['URL', (m) => m.url], ['Dead-lettered', (m) => time(deadAt(m.dlqId))], ['HTTP status', (m) => String(m.responseStatus || '—')],
    ['Error', (m) => m.error || ''],
    ['Details', (m) => h('button', { type: 'button', 'aria-label': `Show ${m.dlqId}`, onclick: () => showDetail(detail, m) }, 'Show')],
  ], messages, 'The DLQ is empty (for these filters).');
}

export async function render(view, ctx) {
  add(view, h('h1', { tabindex: -1 }, 'Dead-letter queue'), filterForm('dlq', FILTERS, ctx.params));
  const found = await api('GET', '/v2/dlq', { query: listQuery(ctx.params, PAGE_SIZE) });
  const selected = new Set();
  const ids = () => [...selected];
  const retry = action('Retry selected', (e) => bulk('retry', ids(), e.target, ctx));
  const remove = action('Delete selected', (e) => bulk('delete', ids(), e.target, ctx), { class: 'danger' });
  const detail = h('section', { class: 'detail', 'aria-labelledby': 'detail-title', hidden: true });
  add(view,
    h('div', { class: 'buttons' }, retry, remove),
    selectionTable(found.messages, selected, [retry, remove], detail),
    pager('dlq', ctx.params, found.cursor),
    detail,
  );
}
