// Flow-control keys: how much of each key's parallelism and rate is in use, pause and
// resume, reset the rate window; live.

import { api } from '../api.js';
import { action, add, h, notice, run, table } from '../dom.js';
import { go } from '../lists.js';

const REFRESH_MS = 2000;

function command(key, verb, label, ctx) {
  return action(label, async (e) => {
    if (await run(e.target, () => api('POST', `/v2/flowControl/${encodeURIComponent(key)}/${verb}`))) {
      notice(`${key}: ${label.toLowerCase()} done.`);
      ctx.reload();
    }
  }, { 'aria-label': `${label} ${key}` });
}

const limit = (count, max) => `${count} / ${max || 'no limit'}`;

const columns = (ctx) => [
  ['Key', (f) => h('span', { class: 'id' }, f.flowControlKey)],
  ['Parallelism', (f) => limit(f.parallelismCount, f.parallelismMax) + (f.isPinnedParallelism ? ' (pinned)' : '')],
  ['Rate', (f) => `${limit(f.rateCount, f.rateMax)} per ${f.ratePeriod} s${f.isPinnedRate ? ' (pinned)' : ''}`],
  ['Waiting', (f) => String(f.waitListSize)],
  ['State', (f) => (f.isPaused ? 'paused' : 'active')],
  ['Actions', (f) => h('div', { class: 'buttons' },
    f.isPaused ? command(f.flowControlKey, 'resume', 'Resume', ctx) : command(f.flowControlKey, 'pause', 'Pause', ctx),
    command(f.flowControlKey, 'resetRate', 'Reset rate', ctx))],
];

function searchForm(search) {
  const input = h('input', { id: 'flow-search', name: 'search', value: search });
  const onsubmit = (event) => {
    event.preventDefault();
    go(`#/flow?${new URLSearchParams(input.value.trim() ? { search: input.value.trim() } : {})}`);
  };
  return h('form', { class: 'finder', role: 'search', 'aria-label': 'Search keys', onsubmit },
    h('div', { class: 'field' }, h('label', { for: 'flow-search' }, 'Key contains'), input),
    h('button', { type: 'submit' }, 'Search'));
}

export async function render(view, ctx) {
  const search = ctx.params.get('search') || '';
  const list = h('div', { class: 'live' });
  const draw = async () => {
    const keys = await api('GET', '/v2/flowControl', { query: { search } });
    list.replaceChildren(table('Flow-control keys (refreshed every 2 s)', columns(ctx), keys, 'No flow-control keys (they appear with the first message that names one).'));
  };
  await draw();
  add(view, h('h1', { tabindex: -1 }, 'Flow-control keys'), searchForm(search), list);
  ctx.every(REFRESH_MS, draw);
}
