// Overview: rates, backlog, in-flight, DLQ and recent failures from GET /v2/stats, every 2 s.

import { api } from '../api.js';
import { add, fmtDuration, fmtTime, h, table } from '../dom.js';
import { EVENT_COLUMNS } from './events.js';

const REFRESH_MS = 2000;
const HISTORY = 60; // samples in the chart: the last two minutes
const SVG = 'http://www.w3.org/2000/svg';

const rate = (n) => `${n < 10 ? n.toFixed(2) : Math.round(n)}/s`;

function figures(stats) {
  const r = stats.rates;
  const items = [
    ['published', 'Published', rate(r.published)],
    ['delivered', 'Delivered', rate(r.delivered)],
    ['failed', 'Failed attempts', rate(r.failedAttempts)],
    ['ready', 'Ready (not yet read)', String(stats.ready)],
    ['in-flight', 'In flight', String(stats.inFlight)],
    ['delayed', 'Delayed or awaiting retry', String(stats.delayed)],
    ['dlq', 'Dead letters', h('a', { href: '#/dlq' }, String(stats.dlq))],
    ['oldest', 'Oldest in flight', fmtDuration(stats.oldestInFlightSeconds * 1000)],
  ];
  return items.map(([key, label, value]) => h('div', { class: 'figure' }, h('dt', {}, label), h('dd', { 'data-figure': key }, value)));
}

function svg(tag, attributes) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) el.setAttribute(name, String(value));
  return el;
}

// Published and delivered per second over the last samples, as two lines.
function chart(history) {
  const width = 600;
  const height = 80;
  const top = Math.max(1, ...history.flatMap((r) => [r.published, r.delivered]));
  const step = width / Math.max(1, history.length - 1);
  const line = (key) => history.map((r, i) => `${i * step},${height - (r[key] / top) * (height - 4) - 2}`).join(' ');
  const drawing = svg('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', class: 'chart', role: 'img', 'aria-labelledby': 'chart-title' });
  const title = svg('title', { id: 'chart-title' });
  title.textContent = `Published and delivered per second, last ${history.length} samples; peak ${rate(top)}`;
  drawing.append(title, svg('polyline', { points: line('published'), class: 'published' }), svg('polyline', { points: line('delivered'), class: 'delivered' }));
  return drawing;
}

const PARTITION_COLUMNS = [
  ['Partition', (p) => String(p.partition)], ['Ready', (p) => String(p.ready)],
  ['In flight', (p) => String(p.inFlight)], ['Delayed', (p) => String(p.delayed)],
  ['Dead letters', (p) => String(p.dlq)], ['Oldest in flight', (p) => fmtDuration(p.oldestInFlightSeconds * 1000)],
];

export async function render(view, ctx) {
  const updated = h('p', { class: 'hint', id: 'updated' });
  const dl = h('dl', { class: 'figures' });
  const plot = h('figure', { class: 'plot' });
  const failures = h('div');
  const partitions = h('div');
  const history = [];
  const draw = async () => {
    const stats = await api('GET', '/v2/stats');
    history.push(stats.rates);
    if (history.length > HISTORY) history.shift();
    updated.textContent = `Updated ${fmtTime(stats.time)}, every 2 s. Rates cover the last ${Math.round(stats.rates.windowSeconds)} s.`;
    dl.replaceChildren(...figures(stats));
    plot.replaceChildren(chart(history), h('figcaption', {}, h('span', { class: 'key-published' }, 'published'), ' and ', h('span', { class: 'key-delivered' }, 'delivered'), ' per second'));
    failures.replaceChildren(table('Recent failed attempts and dead letters', EVENT_COLUMNS, stats.recentFailures, 'No failures lately.'));
    partitions.replaceChildren(table('Backlog per partition', PARTITION_COLUMNS, stats.partitions));
  };
  await draw();
  add(view, h('h1', { tabindex: -1 }, 'Overview'), updated, dl, plot,
    h('h2', {}, 'Recent failures'), failures, h('h2', {}, 'Partitions'), partitions);
  ctx.every(REFRESH_MS, draw);
}
