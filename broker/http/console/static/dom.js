// Building the page. Everything shown comes from the API and may be written by whoever can
// publish (bodies, headers, labels, URLs), so text only ever becomes a Text node or an
// attribute value: there is no innerHTML here, and the Content-Security-Policy's Trusted
// Types rule makes the browser refuse it anywhere.

import { session } from './api.js';

// h('a', {href: '#/dlq', onclick: fn}, 'text', node, [more]) → an element.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

// Replace an element's content, or add to it: nested arrays of nodes and strings, like
// h()'s children (null, undefined and false are left out).
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

export function add(el, ...children) {
  append(el, children);
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

const pad = (n) => String(n).padStart(2, '0');

export function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${day} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function time(ms) {
  if (!ms) return '—';
  const iso = new Date(ms).toISOString();
  return h('time', { datetime: iso, title: iso }, fmtTime(ms));
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

export function messageLink(id) {
  return h('a', { href: `#/message/${encodeURIComponent(id)}`, class: 'id' }, id);
}

// A table: columns are [heading, row => cell content]; `empty` is shown for no rows.
export function table(caption, columns, rows, empty = 'Nothing to show.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  const head = h('tr', {}, columns.map(([label]) => h('th', { scope: 'col' }, label)));
  const body = rows.map((row) => h('tr', {}, columns.map(([, cell]) => h('td', {}, cell(row)))));
  return h('table', {}, h('caption', {}, caption), h('thead', {}, head), h('tbody', {}, body));
}

// A description list of [term, value] pairs.
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

export function pre(text, label) {
  return h('pre', { tabindex: 0, 'aria-label': label }, text === undefined || text === null ? '' : text);
}

let fieldCount = 0;

// A labelled control: field('URL', 'input', {name: 'url'}) → [wrapper, control].
export function field(label, tag, props = {}, ...children) {
  const id = `f${++fieldCount}`;
  const control = h(tag, { id, ...props }, ...children);
  return [h('div', { class: 'field' }, h('label', { for: id }, label), control), control];
}

export function canWrite() { return !session.readOnly; }

// A button that changes something: disabled for read-only tokens (the server refuses anyway).
export function action(label, onclick, props = {}) {
  return h('button', { type: 'button', 'data-write': true, disabled: !canWrite(), onclick, ...props }, label);
}

export function disableWrites() {
  for (const el of document.querySelectorAll('[data-write]')) el.disabled = true;
}

export function notice(text) {
  const region = document.getElementById('notice');
  region.textContent = text;
}

export function showError(error) {
  const region = document.getElementById('alert');
  region.textContent = error.status ? `${error.message} (HTTP ${error.status})` : String(error.message || error);
  region.hidden = false;
}

export function clearError() {
  const region = document.getElementById('alert');
  region.textContent = '';
  region.hidden = true;
}

// The modal confirmation: resolves true only when the confirm button was chosen.
export function confirmAction(title, text, verb) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = verb;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

// Run a change from `button`: the button is busy meanwhile; errors go to the alert region.
export async function run(button, work) {
  button.disabled = true;
  clearError();
  try {
    return await work();
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    button.disabled = !canWrite();
  }
}
