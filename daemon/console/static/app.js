// ingestd console: hash router, login, and the live connection. Pages are
// in pages.js and asset.js; everything they read is the documented API.
import { el, clear, api, session, HTTPError } from './util.js';
import * as live from './live.js';
import { pages } from './pages.js';

const main = () => document.getElementById('main');
let cleanup = null;
let headerSub = null; // subscribed once, however often the user logs in again

function parseHash() {
  const h = location.hash.replace(/^#\/?/, '');
  const [path, qs] = h.split('?');
  const parts = path.split('/').filter(Boolean);
  return { page: parts[0] || 'overview', arg: parts.slice(1).map(decodeURIComponent).join('/'), params: new URLSearchParams(qs || '') };
}

// routeGen numbers the routes: a page that finishes rendering after a later
// route began (a slow fetch, quick navigation) is stale.
let routeGen = 0;

async function route() {
  const gen = ++routeGen;
  if (cleanup) { try { cleanup(); } catch (e) { console.error(e); } cleanup = null; }
  if (session.auth === 'token' && !session.authenticated) { showLogin(); return; }
  const r = parseHash();
  const page = pages[r.page] || pages.overview;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === r.page || a.dataset.page === r.page + 's') a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // Each route renders into its own container: a stale page writes into a
  // detached one, never over the current page, and its live listeners are
  // stopped at once instead of replacing the current page's.
  const m = el('div', { class: 'page' });
  clear(main(), m);
  document.title = 'ingestd · ' + (r.page[0].toUpperCase() + r.page.slice(1));
  try {
    const done = await page(m, r);
    if (gen !== routeGen) {
      if (done) { try { done(); } catch (e) { console.error(e); } }
      return;
    }
    cleanup = done;
  } catch (e) {
    if (gen !== routeGen) return;
    if (e instanceof HTTPError && e.status === 401) return;
    clear(m, el('p', { class: 'error', role: 'alert' }, 'Error: ' + e.message));
  }
}

function showLogin(msg) {
  live.stop();
  document.getElementById('logout').hidden = true;
  document.getElementById('conn').textContent = 'not logged in';
  const input = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true });
  const err = el('p', { class: 'error', role: 'alert', id: 'login-error' }, msg || '');
  const form = el('form', { id: 'login', onsubmit: async ev => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const doc = await api('/v1/session', { method: 'POST', json: { token: input.value } });
      Object.assign(session, doc);
      input.value = '';
      boot();
    } catch (e) { err.textContent = e.status === 401 ? 'Wrong token.' : 'Login failed: ' + e.message; input.focus(); }
  } },
    el('label', { for: 'token' }, 'API token (the content of api.token_file)'), input,
    el('button', { type: 'submit', class: 'primary' }, 'Log in'), err);
  clear(main(), el('section', { class: 'login panel', 'aria-labelledby': 'login-h' }, el('h1', { id: 'login-h' }, 'Log in to ingestd'), form));
  document.title = 'ingestd · Log in';
  input.focus();
}

async function boot() {
  try {
    Object.assign(session, await api('/v1/session'));
  } catch (e) {
    clear(main(), el('p', { class: 'error', role: 'alert' }, 'Cannot reach the daemon: ' + e.message));
    return;
  }
  if (session.auth === 'token' && !session.authenticated) { showLogin(); return; }
  const lo = document.getElementById('logout');
  lo.hidden = session.auth !== 'token';
  // The stream first: pages read the feed after it answered (no gap).
  await live.start();
  if (!headerSub) {
    headerSub = live.onStatus(st => {
      document.getElementById('brand').textContent = 'ingestd · ' + (st.appliance_id || '');
      const n = problemCount(st);
      document.getElementById('problem-count').textContent = n ? String(n) : '';
    });
  }
  route();
}

export function problemCount(st) {
  let n = (st.volumes || []).filter(v => !v.online).length;
  const wh = st.sync && st.sync.webhook;
  if (wh && wh.parked) n++;
  if (st.disk && st.disk.low) n++;
  return n;
}

window.addEventListener('hashchange', route);
window.addEventListener('ingestd:login', () => showLogin('Your session ended: log in again.'));
document.getElementById('logout').addEventListener('click', async () => {
  try { await api('/v1/session', { method: 'DELETE' }); } catch (e) { /* logged out anyway */ }
  session.authenticated = false; session.csrf = '';
  showLogin('Logged out.');
});
boot();
