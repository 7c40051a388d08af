// One EventSource per tab (GET /v1/events/stream): the feed's new events
// and /v1/status snapshots when they change. Pages subscribe; nothing polls.

const statusSubs = new Set(), feedSubs = new Set();
export let lastStatus = null;
export let lastSeq = 0;
let es = null;

function setConn(text, cls) {
  const c = document.getElementById('conn');
  if (c) { c.textContent = text; c.className = 'conn ' + (cls || ''); }
}

export function start() {
  if (es) return;
  es = new EventSource('/v1/events/stream', { withCredentials: true });
  es.addEventListener('open', () => setConn('● live', 'ok'));
  es.addEventListener('error', () => setConn(es.readyState === EventSource.CLOSED ? '✖ disconnected' : '▲ reconnecting…', 'bad'));
  es.addEventListener('status', m => {
    lastStatus = JSON.parse(m.data);
    if (lastStatus.catalog) lastSeq = Math.max(lastSeq, lastStatus.catalog.last_seq || 0);
    for (const f of statusSubs) f(lastStatus);
  });
  es.addEventListener('feed', m => {
    const ev = JSON.parse(m.data);
    lastSeq = Math.max(lastSeq, ev.seq);
    for (const f of feedSubs) f(ev);
  });
}

export function stop() { if (es) { es.close(); es = null; } }

// onStatus calls f now (when a status is known) and on every change;
// returns the unsubscribe function.
export function onStatus(f) { statusSubs.add(f); if (lastStatus) f(lastStatus); return () => statusSubs.delete(f); }
export function onFeed(f) { feedSubs.add(f); return () => feedSubs.delete(f); }
