// Sign-in, the read-only mode, and the router: `#/<page>/<part>?<filters>` → a page module.

import { api, onRefusal, session } from './api.js';
import { clearError, disableWrites, h, showError } from './dom.js';
import * as dlq from './pages/dlq.js';
import * as events from './pages/events.js';
import * as flow from './pages/flow.js';
import * as groups from './pages/groups.js';
import * as keys from './pages/keys.js';
import * as message from './pages/message.js';
import * as overview from './pages/overview.js';
import * as queues from './pages/queues.js';
import * as schedules from './pages/schedules.js';
import * as workflows from './pages/workflows.js';

const PAGES = { overview, events, message, dlq, schedules, queues, groups, flow, keys, workflows };
const $ = (id) => document.getElementById(id);

// What a page may use while it is shown; `every` stops when the user navigates away.
class PageContext {
  constructor(name, parts, params) {
    Object.assign(this, { name, parts, params, timers: [], closed: false });
  }

  // Draw the page again, after a change: its heading takes the focus the change's button had.
  reload() {
    if (!this.closed) route(true);
  }

  // Refresh every `ms`, except while the tab is hidden, a dialog is open or the keyboard
  // focus is inside a table or form of the page (a refresh would take it away).
  every(ms, refresh) {
    const tick = async () => {
      const focus = document.activeElement;
      const busy = document.hidden || $('confirm').open || focus?.closest('#page table, #page form');
      if (this.closed || busy) return;
      try { await refresh(); } catch (error) { showError(error); }
    };
    this.timers.push(setInterval(tick, ms));
  }

  close() {
    this.closed = true;
    this.timers.forEach(clearInterval);
  }
}

let current = null;

function parseHash() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, ...parts] = path.split('/').map(decodeURIComponent);
  return { name: PAGES[name] ? name : 'overview', parts, params: new URLSearchParams(query) };
}

async function route(refocus = false) {
  if (!session.token) return showSignIn();
  const { name, parts, params } = parseHash();
  const samePage = current && current.name === name;
  current?.close();
  current = new PageContext(name, parts, params);
  clearError();
  const view = h('div', { class: `page page-${name}` });
  $('page').replaceChildren(view);
  markNav(name);
  try {
    await PAGES[name].render(view, current);
  } catch (error) {
    showError(error);
  }
  if (session.readOnly) disableWrites();
  if (!samePage || refocus === true) view.querySelector('h1')?.focus();
}

function markNav(name) {
  const active = name === 'message' ? 'events' : name;
  for (const link of $('nav').querySelectorAll('a')) {
    if (link.getAttribute('href') === `#/${active}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function showSignIn(message) {
  current?.close();
  current = null;
  $('page').replaceChildren();
  for (const id of ['nav', 'mode', 'sign-out']) $(id).hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message || '';
  $('token').focus();
}

function showConsole() {
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('sign-out').hidden = false;
  $('mode').hidden = !session.readOnly;
}

// Which kind of token this is: GET /v2/keys is refused (403) to read-only tokens.
async function probe() {
  try {
    await api('GET', '/v2/keys');
  } catch (error) {
    if (error.status !== 403) throw error;
  }
}

async function signIn(event) {
  event.preventDefault();
  const token = $('token').value.trim();
  $('token').value = '';
  session.start(token);
  try {
    await probe();
  } catch (error) {
    if (session.token) showSignIn(error.message);
    return;
  }
  showConsole();
  route();
}

function readOnly(error) {
  if (!session.readOnly) {
    session.markReadOnly();
    $('mode').hidden = !$('sign-in').hidden;
  }
  disableWrites();
  showError(error);
}

function start() {
  onRefusal({
    unauthorized: () => { session.end(); showSignIn('The token was refused (HTTP 401). Sign in again.'); },
    forbidden: readOnly,
  });
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => { session.end(); showSignIn(); });
  $('skip').addEventListener('click', (event) => { event.preventDefault(); $('main').focus(); });
  window.addEventListener('hashchange', route);
  if (session.token) showConsole();
  route();
}

start();
