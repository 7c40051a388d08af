// One EventSource per tab (GET /v1/events/stream): the feed's new events
// and /v1/status snapshots when they change. Pages subscribe; nothing polls.

import { api, session } from './util.js';

const statusSubs = new Set(), feedSubs = new Set();
export let lastStatus = null;
export let lastSeq = 0;
let es = null;
let retry = null;
let lastFeed = 0;
let wanted = false; // start() was called and stop() not since

function setConn(text, cls) {
  const c = document.getElementById('conn');
  if (c) { c.textContent = text; c.className = 'conn ' + (cls || ''); }
}

export function start() {
  wanted = true;
  if (es || retry) return;
  // A stream started again resumes after the last feed event this tab got.
  const me = new EventSource('/v1/events/stream' + (lastFeed ? '?after=' + lastFeed : ''), { withCredentials: true });
  es = me;
  es.addEventListener('open', () => setConn('● live', 'ok'));
  es.addEventListener('error', () => {
    if (es !== me) return;
    if (es.readyState !== EventSource.CLOSED) { setConn('▲ reconnecting…', 'bad'); return; }
    // The browser gives up on an answer other than 200 (a 401 once the
    // session ended, e.g. on a daemon restart; a 503 at the stream limit):
    // ask why, then log in again or reconnect, instead of going stale.
    setConn('✖ disconnected', 'bad');
    es.close();
    es = null;
    retry = setTimeout(recover, 3000);
  });
  es.addEventListener('status', m => {
    lastStatus = JSON.parse(m.data);
    if (lastStatus.catalog) lastSeq = Math.max(lastSeq, lastStatus.catalog.last_seq || 0);
    for (const f of statusSubs) f(lastStatus);
  });
  es.addEventListener('feed', m => {
    const ev = JSON.parse(m.data);
    // A stream the browser reconnects by itself asks again from its URL's
    // ?after=, so events already delivered come again: pass each seq once.
    if (ev.seq <= lastFeed) return;
    lastSeq = Math.max(lastSeq, ev.seq);
    lastFeed = Math.max(lastFeed, ev.seq);
    for (const f of feedSubs) f(ev);
  });
}

async function recover() {
  retry = null;
  try {
    const s = await api('/v1/session');
    if (!wanted) return; // logged out meanwhile
    if (s.auth === 'token' && !s.authenticated) {
      session.authenticated = false;
      session.csrf = '';
      window.dispatchEvent(new Event('ingestd:login'));
      return;
    }
  } catch (e) { /* the daemon is away: a new stream keeps trying */ }
  if (wanted) start();
}

export function stop() {
  wanted = false;
  if (retry) { clearTimeout(retry); retry = null; }
  if (es) { es.close(); es = null; }
}

// onStatus calls f now (when a status is known) and on every change;
// returns the unsubscribe function.
export function onStatus(f) { statusSubs.add(f); if (lastStatus) f(lastStatus); return () => statusSubs.delete(f); }
export function onFeed(f) { feedSubs.add(f); return () => feedSubs.delete(f); }
