// Schedules: list, create (with the next fire times, computed by the server from the same
// cron code the scheduler runs), pause and resume, delete.

import { api } from '../api.js';
import { action, add, confirmAction, field, h, notice, run, table, time } from '../dom.js';

const path = (id) => `/v2/schedules/${encodeURIComponent(id)}`;

function lastStates(states) {
  const counts = {};
  for (const state of Object.values(states || {})) counts[state] = (counts[state] || 0) + 1;
  return Object.entries(counts).map(([state, n]) => `${state} ×${n}`).join(', ') || '—';
}

function actions(s, ctx) {
  const verb = s.isPaused ? 'Resume' : 'Pause';
  const toggle = action(verb, async (e) => {
    if (await run(e.target, () => api('PATCH', `${path(s.scheduleId)}/${verb.toLowerCase()}`))) {
      notice(`${verb === 'Pause' ? 'Paused' : 'Resumed'} ${s.scheduleId}.`);
      ctx.reload();
    }
  }, { 'aria-label': `${verb} ${s.scheduleId}` });
  const remove = action('Delete', async (e) => {
    const ok = await confirmAction(`Delete schedule ${s.scheduleId}?`, 'It stops firing. Messages it already produced are still delivered.', 'Delete schedule');
    if (ok && (await run(e.target, () => api('DELETE', path(s.scheduleId))))) {
      notice(`Deleted ${s.scheduleId}.`);
      ctx.reload();
    }
  }, { class: 'danger', 'aria-label': `Delete ${s.scheduleId}` });
  return h('div', { class: 'buttons' }, toggle, remove);
}

const COLUMNS = (ctx) => [
  ['Schedule', (s) => h('span', { class: 'id' }, s.scheduleId)],
  ['Cron', (s) => h('code', {}, s.cron)],
  ['Destination', (s) => s.destination],
  ['Next run', (s) => (s.isPaused ? 'paused' : time(s.nextScheduleTime))],
  ['Last run', (s) => time(s.lastScheduleTime)],
  ['Last messages', (s) => lastStates(s.lastScheduleStates)],
  ['Actions', (s) => actions(s, ctx)],
];

// Under the cron field: its next five fire times, or what is wrong with it.
function cronPreview(input) {
  const output = h('div', { class: 'preview', id: 'cron-preview', 'aria-live': 'polite' });
  let timer;
  const show = async () => {
    const cron = input.value.trim();
    if (!cron) return output.replaceChildren();
    try {
      const found = await api('GET', '/v2/cronPreview', { query: { cron, count: 5 } });
      output.replaceChildren(h('p', {}, 'Next runs:'), h('ol', {}, found.next.map((ms) => h('li', {}, time(ms)))));
    } catch (error) {
      output.replaceChildren(h('p', { class: 'error' }, error.message));
    }
  };
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(show, 250); });
  return output;
}

function createForm(ctx) {
  const [destination, destinationInput] = field('Destination (URL or URL group)', 'input', { name: 'destination', required: true });
  const [cron, cronInput] = field('Cron (minute hour day month weekday, UTC or CRON_TZ=Zone)', 'input', { name: 'cron', required: true, 'aria-describedby': 'cron-preview' });
  const [id, idInput] = field('Schedule id (optional)', 'input', { name: 'id' });
  const [method, methodInput] = field('Method', 'select', { name: 'method' }, ['POST', 'GET', 'PUT', 'PATCH', 'DELETE'].map((m) => h('option', {}, m)));
  const [retries, retriesInput] = field('Retries (optional)', 'input', { name: 'retries', type: 'number', min: 0 });
  const [type, typeInput] = field('Content-Type (optional)', 'input', { name: 'type' });
  const [body, bodyInput] = field('Body', 'textarea', { name: 'body', rows: 3 });
  const submit = h('button', { type: 'submit', 'data-write': true }, 'Create schedule');
  const headers = () => Object.fromEntries(Object.entries({
    'Upstash-Cron': cronInput.value.trim(), 'Upstash-Schedule-Id': idInput.value.trim(),
    'Upstash-Method': methodInput.value, 'Upstash-Retries': retriesInput.value, 'Content-Type': typeInput.value.trim(),
  }).filter(([, v]) => v !== ''));
  const onsubmit = async (event) => {
    event.preventDefault();
    const made = await run(submit, () => api('POST', `/v2/schedules/${destinationInput.value.trim()}`, { headers: headers(), body: bodyInput.value }));
    if (made) { notice(`Created schedule ${made.scheduleId}.`); ctx.reload(); }
  };
  return h('form', { class: 'create', 'aria-labelledby': 'create-title', onsubmit },
    h('h2', { id: 'create-title' }, 'Create a schedule'),
    h('div', { class: 'grid' }, destination, cron, id, method, retries, type),
    cronPreview(cronInput), body, submit);
}

export async function render(view, ctx) {
  const schedules = await api('GET', '/v2/schedules');
  add(view,
    h('h1', { tabindex: -1 }, 'Schedules'),
    table('Schedules', COLUMNS(ctx), schedules, 'No schedules yet.'),
    createForm(ctx),
  );
}
