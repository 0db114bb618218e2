// Workflow runs (Upstash Workflow apps, docs/workflow.md): the runs with their state, URL and
// times, one run's finished steps, and cancel for a running run. Everything comes from the
// run logs API the Workflow SDK's `client.logs` reads (GET /v2/workflows/logs), so the
// console shows what an app's own tooling shows. Lists refresh every 3 s while shown.

import { api } from '../api.js';
import { action, add, confirmAction, facts, h, messageLink, notice, pre, replace, run, table, time } from '../dom.js';
import { filterForm, pager, stateBadge } from '../lists.js';

const RUNNING = 'RUN_STARTED';
const STATES = ['', RUNNING, 'RUN_SUCCESS', 'RUN_FAILED', 'RUN_CANCELED'];
// The filters of the run logs API: API name → [label, input type or option list].
const FILTERS = {
  state: ['State', STATES],
  workflowRunId: ['Run id', 'text'],
  workflowUrl: ['Workflow URL', 'text'],
  label: ['Label', 'text'],
  fromDate: ['Created from', 'datetime-local'],
  toDate: ['Created to', 'datetime-local'],
};
const PAGE_SIZE = 20;
const REFRESH_MS = 3000;

const runLink = (id) => h('a', { href: `#/workflows/${encodeURIComponent(id)}`, class: 'id' }, id);
const stepsOf = (r) => (r.steps || []).flatMap((group) => group.steps.map((step) => ({ ...step, group: group.type })));

function cancelButton(r, ctx) {
  const id = r.workflowRunId;
  return action('Cancel', async (event) => {
    const text = 'Its sleeping and waiting steps are cancelled and the run ends RUN_CANCELED. A step in flight finishes first.';
    if (!(await confirmAction(`Cancel run ${id}?`, text, 'Cancel run'))) return;
    const done = await run(event.target, () => api('DELETE', '/v2/workflows/runs', { query: { workflowRunIds: id } }));
    if (!done) return;
    notice(done.cancelled ? `Cancelled ${id}.` : `${id} had already ended.`);
    ctx.reload();
  }, { class: 'danger', 'aria-label': `Cancel ${id}` });
}

const RUN_COLUMNS = (ctx) => [
  ['Run', (r) => runLink(r.workflowRunId)],
  ['State', (r) => stateBadge(r.workflowState)],
  ['URL', (r) => r.workflowUrl],
  ['Created', (r) => time(r.workflowRunCreatedAt)],
  ['Ended', (r) => time(r.workflowRunCompletedAt)],
  ['Steps', (r) => String(stepsOf(r).length)],
  ['Actions', (r) => (r.workflowState === RUNNING ? cancelButton(r, ctx) : '—')],
];

const STEP_COLUMNS = [
  ['Step', (s) => String(s.stepId)],
  ['Name', (s) => s.stepName],
  ['Type', (s) => s.stepType],
  ['Group', (s) => s.group],
  ['State', (s) => stateBadge(s.state)],
  ['Message', (s) => (s.messageId ? messageLink(s.messageId) : '—')],
  ['Output', (s) => (s.out === undefined || s.out === null ? '—' : pre(s.out, `Output of step ${s.stepName}`))],
];

// The API query of the list: the filters in the address, `count` runs a page.
function listQuery(params) {
  const query = { count: PAGE_SIZE };
  for (const [name, value] of params) if (name === 'cursor' || FILTERS[name]) query[name] = value;
  return query;
}

async function renderList(view, ctx) {
  add(view, h('h1', { tabindex: -1 }, 'Workflows'), filterForm('workflows', Object.keys(FILTERS), ctx.params, FILTERS));
  const list = h('div', { class: 'runs' });
  add(view, list);
  const draw = async () => {
    const found = await api('GET', '/v2/workflows/logs', { query: listQuery(ctx.params) });
    replace(list,
      table('Workflow runs, newest first', RUN_COLUMNS(ctx), found.runs, 'No workflow run matches.'),
      pager('workflows', ctx.params, found.cursor));
  };
  await draw();
  ctx.every(REFRESH_MS, draw);
}

async function renderRun(view, ctx, id) {
  add(view, h('h1', { tabindex: -1 }, 'Workflow run ', h('span', { class: 'id' }, id)),
    h('p', {}, h('a', { href: '#/workflows' }, 'All workflow runs')));
  const detail = h('div', { class: 'run' });
  add(view, detail);
  const draw = async () => {
    const [r] = (await api('GET', '/v2/workflows/logs', { query: { workflowRunId: id } })).runs;
    if (!r) return replace(detail, h('p', { class: 'empty' }, 'No such run: it never existed, or it ended longer ago than the retention (HOOKSTREAM_WORKFLOW_RETENTION).'));
    replace(detail,
      facts([
        ['State', stateBadge(r.workflowState)], ['URL', r.workflowUrl],
        ['Created', time(r.workflowRunCreatedAt)], ['Ended', time(r.workflowRunCompletedAt)],
        ['Label', r.label || '—'], ['Error', r.workflowRunError || '—'],
      ]),
      r.workflowState === RUNNING && h('div', { class: 'buttons' }, cancelButton(r, ctx)),
      h('h2', {}, 'Result'),
      r.workflowRunResponse ? pre(r.workflowRunResponse, 'Result of the run') : h('p', { class: 'empty' }, 'None recorded.'),
      h('h2', {}, 'Steps'),
      table('Finished steps, in order', STEP_COLUMNS, stepsOf(r), 'No finished step yet.'));
    return r;
  };
  let shown = await draw();
  // Refresh while the run goes on; once it has ended, its page no longer changes.
  ctx.every(REFRESH_MS, async () => {
    if (shown?.workflowState === RUNNING) shown = await draw();
  });
}

export async function render(view, ctx) {
  const id = ctx.parts[0];
  if (id) await renderRun(view, ctx, id);
  else await renderList(view, ctx);
}
