// What the Events and DLQ pages share: the filter form, cursor paging and event details.
// Filters live in the address (#/events?state=ERROR&label=x), so a filtered view can be
// bookmarked and Back works; the token never goes there.

import { fmtTime, h } from './dom.js';

export const STATES = [
  'CREATED', 'ACTIVE', 'RETRY', 'ERROR', 'DELIVERED', 'FAILED', 'CANCEL_REQUESTED', 'CANCELED',
];

// API filter name → [label, input type or option list].
const FILTERS = {
  state: ['State', ['', 'IN_PROGRESS', ...STATES]],
  messageId: ['Message id', 'text'],
  url: ['URL', 'text'],
  topicName: ['URL group', 'text'],
  queueName: ['Queue', 'text'],
  scheduleId: ['Schedule', 'text'],
  label: ['Label', 'text'],
  flowControlKey: ['Flow-control key', 'text'],
  responseStatus: ['Response status', 'number'],
  fromDate: ['From', 'datetime-local'],
  toDate: ['To', 'datetime-local'],
  order: ['Order', ['latestFirst', 'earliestFirst']],
};
const OPTION_TEXT = { '': 'any', latestFirst: 'newest first', earliestFirst: 'oldest first' };
const DATES = new Set(['fromDate', 'toDate']);

// <input type=datetime-local> shows local time; the API takes unix ms.
const toLocalInput = (ms) => {
  const d = new Date(Number(ms) - new Date(Number(ms)).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
};

function control(name, value, defs) {
  const [label, kind] = defs[name];
  const id = `filter-${name}`;
  const input = Array.isArray(kind)
    ? h('select', { id, name }, kind.map((v) => h('option', { value: v, selected: v === value }, OPTION_TEXT[v] || v)))
    : h('input', { id, name, type: kind, step: DATES.has(name) ? 1 : undefined });
  if (!Array.isArray(kind) && value) input.value = DATES.has(name) ? toLocalInput(value) : value;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

function submitFilters(page, form) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (!value) continue;
    params.set(name, DATES.has(name) ? String(new Date(value).getTime()) : value.trim());
  }
  go(`#/${page}?${params}`);
}

// `defs` are the filters of another list API (the Workflows page's), in FILTERS' shape.
export function filterForm(page, names, params, defs = FILTERS) {
  const onsubmit = (event) => { event.preventDefault(); submitFilters(page, event.target); };
  return h('form', { class: 'filters', role: 'search', 'aria-label': 'Filters', onsubmit },
    h('div', { class: 'grid' }, names.map((name) => control(name, params.get(name), defs))),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit' }, 'Apply filters'), h('a', { href: `#/${page}` }, 'Clear filters')));
}

// The API query of a list: the filters in the address, newest first unless asked otherwise.
export function listQuery(params, count) {
  const query = { count, order: 'latestFirst' };
  for (const [name, value] of params) query[name] = value;
  return query;
}

// Page → previous page, per filter: Back and "Previous page" agree.
const previous = new Map();

export function pager(page, params, next) {
  const here = params.get('cursor') || '';
  const rest = new URLSearchParams(params);
  rest.delete('cursor');
  const link = (cursor) => {
    const target = new URLSearchParams(rest);
    if (cursor) target.set('cursor', cursor);
    return `#/${page}?${target}`;
  };
  const key = (cursor) => `${page}?${rest}#${cursor}`;
  const links = [];
  if (here) links.push(h('a', { href: link(previous.get(key(here)) || '') }, 'Previous page'));
  if (next) {
    previous.set(key(next), here);
    links.push(h('a', { href: link(next), rel: 'next' }, 'Next page'));
  }
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, links);
}

export function stateBadge(state) {
  return h('span', { class: `state state-${String(state).toLowerCase()}` }, state);
}

// The parts of an event worth a glance in a list.
export function eventDetails(event) {
  const parts = [];
  if (event.responseStatus) parts.push(`HTTP ${event.responseStatus}`);
  if (event.error && event.error !== `HTTP ${event.responseStatus}`) parts.push(event.error);
  if (event.nextDeliveryTime) parts.push(`next attempt ${fmtTime(event.nextDeliveryTime)}`);
  if (event.queueName) parts.push(`queue ${event.queueName}`);
  if (event.topicName) parts.push(`URL group ${event.topicName}`);
  if (event.labels?.length) parts.push(`labels ${event.labels.join(', ')}`);
  return parts.join(' · ');
}

// Message headers ({name: [values]}) as a table.
export function headerRows(headers) {
  return Object.entries(headers || {}).map(([name, values]) => ({ name, values: values.join(', ') }));
}
