// Signing keys: view (hidden until asked), rotate after a confirmation that says what
// rotation does to receivers.

import { api } from '../api.js';
import { action, add, confirmAction, facts, h, notice, run } from '../dom.js';

const ROTATION = 'The next key becomes the current key, and a new next key is generated. '
  + 'Every delivery from now on is signed with the new current key (today\'s next key), so '
  + 'receivers that verify with both of today\'s keys keep accepting deliveries. Give your '
  + 'receivers the new pair before the next rotation: the key that is current today is retired.';

function secret(label, value) {
  const text = h('code', { class: 'secret' }, '•'.repeat(12));
  const toggle = h('button', { type: 'button', 'aria-pressed': 'false', 'aria-label': `Reveal ${label} key` }, 'Reveal');
  toggle.addEventListener('click', () => {
    const shown = toggle.getAttribute('aria-pressed') !== 'true';
    toggle.setAttribute('aria-pressed', String(shown));
    toggle.textContent = shown ? 'Hide' : 'Reveal';
    text.textContent = shown ? value : '•'.repeat(12);
  });
  return h('span', { class: 'key', 'data-key': label }, text, ' ', toggle);
}

export async function render(view, ctx) {
  add(view, h('h1', { tabindex: -1 }, 'Signing keys'));
  let keys;
  try {
    keys = await api('GET', '/v2/keys');
  } catch (error) {
    if (error.status !== 403) throw error;
    add(view, h('p', {}, 'This token is read-only, and read-only tokens cannot see the signing keys: whoever holds them can sign requests your receivers accept.'));
    return;
  }
  const rotate = action('Rotate keys', async (e) => {
    if (!(await confirmAction('Rotate the signing keys?', ROTATION, 'Rotate keys'))) return;
    if (await run(e.target, () => api('POST', '/v2/keys/rotate'))) {
      notice('Rotated: the former next key now signs every delivery.');
      ctx.reload();
    }
  }, { class: 'danger' });
  add(view,
    facts([['Current', secret('current', keys.current)], ['Next', secret('next', keys.next)]]),
    h('p', { class: 'hint' }, 'Receivers verify the Upstash-Signature header with both keys (QSTASH_CURRENT_SIGNING_KEY and QSTASH_NEXT_SIGNING_KEY).'),
    h('h2', {}, 'Rotation'), h('p', {}, ROTATION), rotate,
  );
}
