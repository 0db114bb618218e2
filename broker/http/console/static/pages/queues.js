// Ordered queues: parallelism, lag (undelivered messages), pause and resume; live.

import { api } from '../api.js';
import { action, add, confirmAction, field, h, notice, run, table, time } from '../dom.js';

const REFRESH_MS = 2000;

function save(queue, paused, parallelism) {
  return api('POST', '/v2/queues', { json: { queueName: queue, paused, parallelism } });
}

function parallelismForm(q, ctx) {
  const input = h('input', { type: 'number', min: 1, value: q.parallelism, 'aria-label': `Parallelism of ${q.name}`, class: 'narrow' });
  const button = h('button', { type: 'submit', 'data-write': true, 'aria-label': `Set parallelism of ${q.name}` }, 'Set');
  const onsubmit = async (event) => {
    event.preventDefault();
    if (await run(button, () => save(q.name, q.paused, Number(input.value)))) {
      notice(`${q.name}: parallelism ${input.value}.`);
      ctx.reload();
    }
  };
  return h('form', { class: 'inline', onsubmit }, input, button);
}

function actions(q, ctx) {
  const verb = q.paused ? 'Resume' : 'Pause';
  const toggle = action(verb, async (e) => {
    if (await run(e.target, () => api('POST', `/v2/queues/${encodeURIComponent(q.name)}/${verb.toLowerCase()}`))) {
      notice(`${verb === 'Pause' ? 'Paused' : 'Resumed'} queue ${q.name}.`);
      ctx.reload();
    }
  }, { 'aria-label': `${verb} ${q.name}` });
  const remove = action('Delete', async (e) => {
    const ok = await confirmAction(`Delete queue ${q.name}?`, `Its ${q.lag} undelivered messages are cancelled, then the queue is removed.`, 'Delete queue');
    if (ok && (await run(e.target, () => api('DELETE', `/v2/queues/${encodeURIComponent(q.name)}`)))) {
      notice(`Deleted queue ${q.name}.`);
      ctx.reload();
    }
  }, { class: 'danger', 'aria-label': `Delete ${q.name}` });
  return h('div', { class: 'buttons' }, toggle, remove);
}

const columns = (ctx) => [
  ['Queue', (q) => h('span', { class: 'id' }, q.name)],
  ['Parallelism', (q) => parallelismForm(q, ctx)],
  ['Lag', (q) => h('span', { 'data-lag': q.name }, String(q.lag))],
  ['State', (q) => (q.paused ? 'paused' : 'active')],
  ['Updated', (q) => time(q.updatedAt)],
  ['Actions', (q) => actions(q, ctx)],
];

function createForm(ctx) {
  const [name, nameInput] = field('Queue name', 'input', { name: 'name', required: true });
  const [parallelism, parallelismInput] = field('Parallelism', 'input', { name: 'parallelism', type: 'number', min: 1, value: 1 });
  const [paused, pausedInput] = field('Start paused', 'input', { name: 'paused', type: 'checkbox' });
  const submit = h('button', { type: 'submit', 'data-write': true }, 'Create queue');
  const onsubmit = async (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (await run(submit, () => save(name, pausedInput.checked, Number(parallelismInput.value)))) {
      notice(`Created queue ${name}.`);
      ctx.reload();
    }
  };
  return h('form', { class: 'create', 'aria-labelledby': 'create-title', onsubmit },
    h('h2', { id: 'create-title' }, 'Create a queue'), h('div', { class: 'grid' }, name, parallelism, paused), submit);
}

export async function render(view, ctx) {
  const list = h('div', { class: 'live' });
  const draw = async () => {
    list.replaceChildren(table('Queues (refreshed every 2 s)', columns(ctx), await api('GET', '/v2/queues'), 'No queues yet.'));
  };
  await draw();
  add(view, h('h1', { tabindex: -1 }, 'Queues'), list, createForm(ctx));
  ctx.every(REFRESH_MS, draw);
}
