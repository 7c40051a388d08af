// Helpers: DOM building, formatting (sizes human-readable, times in the
// browser's zone) and the API client (session cookie + CSRF header).

export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    e.append(k instanceof Node ? k : String(k));
  }
  return e;
}

export function bytes(n) {
  if (n === undefined || n === null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0, v = Number(n);
  while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + u[i];
}

export function rate(bps) { return bps > 0 ? bytes(bps) + '/s' : '—'; }

export function num(n) { return n === undefined || n === null ? '—' : Number(n).toLocaleString(); }

const zero = t => !t || t.startsWith('0001-01-01');

export function time(t) {
  if (zero(t)) return 'never';
  return new Date(t).toLocaleString();
}

export function ago(t) {
  if (zero(t)) return 'never';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}

// localDay: a date input's YYYY-MM-DD as the RFC 3339 instant its day
// starts in the browser's zone (end: the next day's start), so a search
// "from/to 30 Nov" means the user's 30 Nov, not UTC's.
export function localDay(d, end) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(d || '');
  if (!m) return d;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (end ? 1 : 0)).toISOString();
}

export function timeEl(t) {
  return el('time', { datetime: zero(t) ? null : t, title: zero(t) ? null : new Date(t).toString() }, time(t));
}

export function duration(sec) {
  if (!(sec >= 0) || !isFinite(sec)) return '—';
  sec = Math.round(sec);
  const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
  return (h ? h + ' h ' : '') + (h || m ? m + ' min ' : '') + s + ' s';
}

// badge: status in words and a symbol, colour only as a third cue.
export function badge(ok, text, kind) {
  const cls = kind || (ok ? 'ok' : 'bad');
  const sym = cls === 'ok' ? '✔ ' : cls === 'warn' ? '▲ ' : cls === 'muted' ? '• ' : '✖ ';
  return el('span', { class: 'badge ' + cls }, sym + text);
}

export function bar(label, done, total, extra) {
  const pct = total > 0 ? Math.min(100, (100 * done) / total) : 0;
  return el('div', { class: 'bar' },
    el('span', { class: 'label' }, label),
    el('progress', { max: 100, value: pct.toFixed(1), 'aria-label': label + ': ' + pct.toFixed(0) + '%' }, pct.toFixed(0) + '%'),
    el('span', { class: 'num' }, pct.toFixed(0) + '%'),
    extra ? el('span', { class: 'label muted' }, extra) : null);
}

export const session = { auth: 'none', authenticated: true, csrf: '' };

export class HTTPError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

export async function api(path, opts = {}) {
  const headers = { 'Accept': 'application/json' };
  const method = opts.method || 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    headers['X-Ingestd-Request'] = '1';
    if (session.csrf) headers['X-Ingestd-CSRF'] = session.csrf;
  }
  let body;
  if (opts.json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(opts.json); }
  const r = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  let doc = null;
  const ct = r.headers.get('Content-Type') || '';
  if (ct.startsWith('application/json')) doc = await r.json();
  else if (method !== 'GET' && method !== 'HEAD') doc = await r.text(); // e.g. POST /v1/verify's stream: read to its end
  if (!r.ok) {
    if (r.status === 401 && session.auth === 'token' && !path.startsWith('/v1/session')) {
      session.authenticated = false;
      window.dispatchEvent(new Event('ingestd:login'));
    }
    throw new HTTPError(r.status, (doc && doc.error) || r.statusText);
  }
  return doc;
}

// coalesce wraps a reload (an async function) that live events trigger:
// at most one runs at a time, runs start at least gap ms apart, and a
// trigger while one runs or waits is folded into one more run after it.
// A burst of events (a thousand proxy.ready in one stream batch) costs
// one request every gap ms, not one per event. stop() cancels what waits.
export function coalesce(fn, gap = 2000) {
  let running = false, pending = false, timer = null, last = 0, stopped = false;
  const run = async () => {
    timer = null;
    if (stopped) return;
    running = true; pending = false; last = Date.now();
    try { await fn(); } catch (e) { /* the next event tries again */ }
    running = false;
    if (pending) trigger();
  };
  const trigger = () => {
    if (stopped) return;
    pending = true;
    if (running || timer) return;
    timer = setTimeout(run, Math.max(0, last + gap - Date.now()));
  };
  trigger.stop = () => { stopped = true; if (timer) clearTimeout(timer); timer = null; };
  return trigger;
}

export function clear(node, ...kids) { node.replaceChildren(...kids.flat(Infinity).filter(k => k !== null && k !== undefined)); return node; }

export function shortID(id) { return id ? id.slice(0, 12) + '…' : ''; }

// locPath: the display path of a location or event.
export function locPath(o) { return (o.volume ? o.volume + '/' : '') + (o.path || ''); }
