// URL groups: their endpoints, add and remove endpoints, delete a group.

import { api } from '../api.js';
import { action, add, confirmAction, field, h, notice, run, table } from '../dom.js';

const endpoints = (group) => `/v2/topics/${encodeURIComponent(group)}/endpoints`;

function removeButton(group, endpoint, ctx) {
  return action('Remove', async (e) => {
    const ok = await confirmAction(`Remove ${endpoint.url} from ${group}?`, 'Messages published to the group from now on skip it. Removing the last endpoint deletes the group.', 'Remove endpoint');
    if (ok && (await run(e.target, () => api('DELETE', endpoints(group), { json: { endpoints: [{ url: endpoint.url }] } })))) {
      notice(`Removed ${endpoint.url} from ${group}.`);
      ctx.reload();
    }
  }, { class: 'danger', 'aria-label': `Remove ${endpoint.url} from ${group}` });
}

function deleteButton(group, ctx) {
  return action('Delete group', async (e) => {
    const ok = await confirmAction(`Delete URL group ${group}?`, 'Publishing to its name fails from now on; messages already published are still delivered.', 'Delete group');
    if (ok && (await run(e.target, () => api('DELETE', `/v2/topics/${encodeURIComponent(group)}`)))) {
      notice(`Deleted URL group ${group}.`);
      ctx.reload();
    }
  }, { class: 'danger', 'aria-label': `Delete group ${group}` });
}

function groupSection(g, ctx) {
  const id = `group-${encodeURIComponent(g.name)}`;
  return h('section', { class: 'group', 'aria-labelledby': id },
    h('h2', { id }, g.name), deleteButton(g.name, ctx),
    table(`Endpoints of ${g.name}`, [
      ['URL', (e) => e.url], ['Name', (e) => e.name || '—'], ['Actions', (e) => removeButton(g.name, e, ctx)],
    ], g.endpoints, 'No endpoints.'));
}

function addForm(ctx) {
  const [group, groupInput] = field('URL group', 'input', { name: 'group', required: true });
  const [url, urlInput] = field('Endpoint URL', 'input', { name: 'url', type: 'url', required: true });
  const [name, nameInput] = field('Endpoint name (optional)', 'input', { name: 'name' });
  const submit = h('button', { type: 'submit', 'data-write': true }, 'Add endpoint');
  const onsubmit = async (event) => {
    event.preventDefault();
    const endpoint = { url: urlInput.value.trim(), ...(nameInput.value.trim() ? { name: nameInput.value.trim() } : {}) };
    const target = groupInput.value.trim();
    if (await run(submit, () => api('POST', endpoints(target), { json: { endpoints: [endpoint] } }))) {
      notice(`Added ${endpoint.url} to ${target}.`);
      ctx.reload();
    }
  };
  return h('form', { class: 'create', 'aria-labelledby': 'create-title', onsubmit },
    h('h2', { id: 'create-title' }, 'Add an endpoint (creates the group if needed)'),
    h('div', { class: 'grid' }, group, url, name), submit);
}

export async function render(view, ctx) {
  const groups = await api('GET', '/v2/topics');
  add(view, h('h1', { tabindex: -1 }, 'URL groups'), addForm(ctx),
    groups.length ? groups.map((g) => groupSection(g, ctx)) : h('p', { class: 'empty' }, 'No URL groups yet.'));
}
