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
const recent = [];      // the last feed events received (onFeed's since)
const keepRecent = 5000;

function setConn(text, cls) {
  const c = document.getElementById('conn');
  if (c) { c.textContent = text; c.className = 'conn ' + (cls || ''); }
}

// start opens the tab's stream. It returns a promise that settles once
// the stream answered (or failed, or after 3 s): the daemon took the last
// seq as the stream's start before answering, so a page that reads the
// feed after that and then takes new events from the stream has no gap
// between the two.
export function start() {
  wanted = true;
  if (es || retry) return Promise.resolve();
  // A stream started again resumes after the last feed event this tab got.
  const me = new EventSource('/v1/events/stream' + (lastFeed ? '?after=' + lastFeed : ''), { withCredentials: true });
  es = me;
  let answered;
  const first = new Promise(res => { answered = res; setTimeout(res, 3000); });
  es.addEventListener('open', () => { answered(); setConn('● live', 'ok'); });
  es.addEventListener('error', () => answered());
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
    recent.push(ev);
    if (recent.length > keepRecent) recent.splice(0, recent.length - keepRecent);
    for (const f of feedSubs) f(ev);
  });
  return first;
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

// A browser holds at most 6 connections to one host (HTTP/1.1), and the
// stream is one for as long as it is open: a console tab in the
// back-forward cache or long in the background would keep its stream, and
// a few of them stall every request of the tab in front. The stream is
// closed when the page is hidden (at once when left, after 30 s in a
// background tab) and opened again, from the last event this tab got, when
// it is shown.
let hiddenTimer = null;
function pause() {
  if (retry) { clearTimeout(retry); retry = null; }
  if (es) { es.close(); es = null; }
  if (!lastFeed && lastStatus && lastStatus.catalog) lastFeed = lastStatus.catalog.last_seq || 0;
  setConn('paused (tab hidden)', '');
}
window.addEventListener('pagehide', () => { if (wanted) pause(); });
window.addEventListener('pageshow', () => { if (wanted && !es && !retry) start(); });
document.addEventListener('visibilitychange', () => {
  clearTimeout(hiddenTimer);
  if (document.visibilityState === 'hidden') hiddenTimer = setTimeout(() => { if (wanted) pause(); }, 30000);
  else if (wanted && !es && !retry) start();
});

export function stop() {
  wanted = false;
  if (retry) { clearTimeout(retry); retry = null; }
  if (es) { es.close(); es = null; }
}

// onStatus calls f now (when a status is known) and on every change;
// returns the unsubscribe function.
export function onStatus(f) { statusSubs.add(f); if (lastStatus) f(lastStatus); return () => statusSubs.delete(f); }
//
// A page reads its data first and subscribes after: events the stream
// delivered meanwhile would fall between the two. onFeed(f, since) first
// gives f the events this tab received with seq > since (a page passes the
// last seq its data included, or mark() taken before it read).
export function onFeed(f, since) {
  if (since !== undefined) for (const ev of recent) if (ev.seq > since) f(ev);
  feedSubs.add(f);
  return () => feedSubs.delete(f);
}

// mark is the last feed seq this tab received.
export function mark() { return lastFeed; }
