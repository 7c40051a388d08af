// Overview, Cards, Assets, Events and Problems pages. Each renders into
// the main element and returns a cleanup function (unsubscribes).
import { el, clear, api, coalesce, bytes, rate, num, time, timeEl, ago, duration, badge, bar, shortID, locPath, localDay } from './util.js';
import * as live from './live.js';
import { assetPage } from './asset.js';
import { sequencesPage, sequencePage } from './sequences.js';

function panel(title, ...kids) { return el('section', { class: 'panel', 'aria-label': title }, el('h2', {}, title), ...kids); }
function table(head, rows, cls) {
  return el('div', { class: 'scroll' }, el('table', { class: cls || '' },
    el('thead', {}, el('tr', {}, head.map(h => el('th', { scope: 'col', class: h.endsWith('#') ? 'num' : '' }, h.replace(/#$/, ''))))),
    rows instanceof HTMLElement && rows.tagName === 'TBODY' ? rows : el('tbody', {}, rows)));
}
function kv(pairs) { return el('dl', { class: 'kv' }, pairs.filter(Boolean).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])); }
function assetLink(id, text) { return el('a', { href: '#/asset/' + id, class: 'mono' }, text || shortID(id)); }

// ---- Overview ----

function warnings(st) {
  const w = [];
  if (!st.ready) w.push('Not ready: the daemon is still starting or a volume is not watched yet.');
  for (const v of st.volumes || []) {
    if (!v.online) w.push(`Volume ${v.name} is OFFLINE: ${v.reason || 'no reason given'}`);
    if (v.stalled_seconds) w.push(`Volume ${v.name}: NO ANSWER from the filesystem for ${duration(v.stalled_seconds)} (hung mount?)`);
  }
  if (st.disk && st.disk.low) w.push(`Disk space below disk.min_free (${st.disk.min_free}): paused ${(st.disk.paused || []).join(', ') || 'nothing'}`);
  if (st.disk && st.disk.error) w.push('Disk check: ' + st.disk.error);
  if (st.proxy && st.proxy.error) w.push('Proxies: ' + st.proxy.error);
  const s3 = st.sync && st.sync.s3;
  if (s3 && s3.retry_at) w.push(`Hub upload backing off until ${time(s3.retry_at)}: ${s3.last_error || ''}`);
  const wh = st.sync && st.sync.webhook;
  if (wh && wh.parked) w.push(`Webhook PARKED (events ${wh.parked.first_seq}–${wh.parked.last_seq}): ${wh.parked.error}`);
  return w;
}

function freeFor(st, v) {
  const paths = (st.disk && st.disk.paths) || [];
  const p = paths.find(p => p.name === 'offload:' + v.name || p.name === 'volume:' + v.name || p.path === v.path);
  return p ? `${bytes(p.free_bytes)} free of ${bytes(p.total_bytes)}` + (p.low ? ' (LOW)' : '') : '—';
}

function renderOverview(root, st) {
  const ws = warnings(st);
  const vols = (st.volumes || []).map(v => el('tr', { 'data-volume': v.name },
    el('th', { scope: 'row' }, v.name, el('div', { class: 'muted mono' }, v.path)),
    el('td', { class: 'vol-state', 'data-label': 'State' }, v.online ? badge(true, 'ONLINE') : badge(false, 'OFFLINE'), v.online ? null : el('div', { class: 'bad' }, v.reason || ''), v.scanning ? el('div', { class: 'muted' }, 'scanning…') : null),
    el('td', { 'data-label': 'Watch mode' }, v.watch_mode + (v.watches ? ` (${num(v.watches)} watches)` : '')),
    el('td', { class: 'num', 'data-label': 'Files' }, num(v.files)),
    el('td', { class: 'num', 'data-label': 'Size' }, bytes(v.bytes)),
    el('td', { 'data-label': 'Last scan' }, timeEl(v.last_scan), v.last_scan_seconds ? el('div', { class: 'muted' }, `took ${v.last_scan_seconds.toFixed(1)} s`) : null),
    el('td', { 'data-label': 'Free space' }, freeFor(st, v))));
  const px = st.proxy;
  const lanes = px ? (px.lanes || []).map(l => el('tr', {}, el('th', { scope: 'row' }, l.name), el('td', { class: 'num' }, l.slots), el('td', { class: 'num' }, l.queued), el('td', { class: 'num' }, l.running))) : [];
  const jobs = px ? (px.running || []).map(j => bar(`${j.lane} · ${j.encoder} · `, j.out_time_us, j.duration_us,
    `${duration(j.out_time_us / 1e6)} of ${duration(j.duration_us / 1e6)} · frame ${num(j.frame)} · ${j.speed ? j.speed.toFixed(1) + '×' : ''}`)) : [];
  if (px) (px.running || []).forEach((j, i) => jobs[i].querySelector('.label').append(assetLink(j.asset_id)));
  const s3 = st.sync && st.sync.s3, wh = st.sync && st.sync.webhook;
  const cards = (st.cards && st.cards.cards) || [];
  clear(root,
    el('h1', {}, 'Overview'),
    ws.length ? el('div', { class: 'warnbox', role: 'alert', id: 'warnings' }, el('strong', {}, '▲ Needs attention'), el('ul', {}, ws.map(t => el('li', {}, t)))) : el('p', { class: 'ok', id: 'warnings' }, '✔ All volumes online, nothing needs attention.'),
    el('div', { class: 'grid' },
      el('section', { class: 'panel wide', 'aria-label': 'Volumes' }, el('h2', {}, 'Volumes'),
        table(['Volume', 'State', 'Watch mode', 'Files#', 'Size#', 'Last scan', 'Free space'], vols, 'volumes')),
      panel('Queues', kv([
        ['Settling', num(st.queues && st.queues.settling)], ['Hashing', num(st.queues && st.queues.hashing)],
        ['Files seen', num(st.ingest && st.ingest.files_seen)], ['Files hashed', num(st.ingest && st.ingest.files_hashed)],
        ['Bytes hashed', bytes(st.ingest && st.ingest.bytes_hashed)],
        px ? ['Proxies queued', num(px.queued)] : null,
        px && px.done ? ['Proxies done', Object.entries(px.done).map(([k, v]) => `${k} ${v}`).join(', ') || '0'] : null]),
        px && px.enabled !== false ? [el('h2', {}, 'Proxy lanes'), table(['Lane', 'Slots#', 'Queued#', 'Running#'], lanes), jobs] : el('p', { class: 'muted' }, 'Proxies disabled.')),
      panel('Hub sync', s3 ? [kv([
        ['Bucket', s3.bucket + (s3.prefix ? '/' + s3.prefix : '')],
        ['Backlog', `${num(s3.backlog_assets)} assets, ${num(s3.backlog_objects)} objects, ${bytes(s3.backlog_bytes)}`],
        ['Bandwidth', s3.rate_limit_bytes > 0 ? rate(s3.rate_limit_bytes) + ' (window in force)' : 'unlimited (no window in force)'],
        ['Concurrency', s3.concurrency], ['Synced', num(s3.assets_synced) + ' assets, ' + bytes(s3.bytes_uploaded)],
        ['Last success', s3.last_success ? ago(s3.last_success) : 'never'],
        s3.last_error ? ['Last error', el('span', { class: 'bad' }, s3.last_error, ' (', ago(s3.last_error_at), ')')] : null]),
        (s3.in_flight || []).map(u => { const k = u.key.split('/'); return bar(`${k[k.length - 1]} · ${k[k.length - 3]} ${shortID(k[k.length - 2])}`, u.bytes, u.total, `${bytes(u.bytes)} of ${bytes(u.total)} · ${rate(u.rate)}`); })]
        : el('p', { class: 'muted' }, 'No hub.s3 configured.'),
        el('h2', {}, 'Webhook'),
        wh ? kv([['URL', wh.url], ['Delivered up to', 'seq ' + num(wh.delivered_seq)], ['Last success', wh.last_success ? ago(wh.last_success) : 'never'],
          ['State', wh.parked ? badge(false, 'PARKED') : badge(true, 'DELIVERING')],
          wh.last_error ? ['Last error', el('span', { class: 'bad' }, wh.last_error)] : null])
          : el('p', { class: 'muted' }, 'No hub.webhook configured.')),
      panel('Disk', st.disk ? [kv([['Floor (disk.min_free)', st.disk.min_free], ['Paused', (st.disk.paused || []).join(', ') || 'nothing']]),
        (st.disk.paths || []).map(p => bar(`${p.name}: ${bytes(p.free_bytes)} free ${p.low ? '(LOW)' : ''}`, p.total_bytes - p.free_bytes, p.total_bytes, `used of ${bytes(p.total_bytes)}; floor ${bytes(p.min_free_bytes)}`))]
        : el('p', { class: 'muted' }, '—')),
      panel('Cards', cards.length ? cards.map(c => el('p', {}, el('a', { href: '#/cards' }, c.label || c.mount), ' ', badge(c.state !== 'failed', c.state.toUpperCase(), c.state === 'failed' ? 'bad' : c.safe_to_format ? 'ok' : 'warn'), ' ', c.safe_to_format ? 'SAFE TO FORMAT' : c.state === 'ignored' ? '' : 'NOT SAFE'))
        : el('p', { class: 'muted' }, 'No card mounted.')),
      panel('Appliance', kv([['Appliance', st.appliance_id], ['Version', st.version], ['Started', timeEl(st.started)], ['Ready', st.ready ? badge(true, 'READY') : badge(false, 'NOT READY')],
        ['Catalog', `seq ${num(st.catalog && st.catalog.last_seq)} · ${bytes((st.catalog && st.catalog.lsm_bytes || 0) + (st.catalog && st.catalog.vlog_bytes || 0))}`]]))));
}

async function overview(root) {
  root.append(el('p', {}, 'Waiting for the first status…'));
  return live.onStatus(st => renderOverview(root, st));
}

// ---- Cards ----

function safeBox(safe, text) {
  return el('div', { class: 'safe ' + (safe ? 'yes' : 'no'), role: 'status' }, safe ? '✔ SAFE TO FORMAT' : '✖ NOT SAFE TO FORMAT', text ? el('div', { class: 'muted' }, text) : null);
}

function destBars(dests) {
  return (dests || []).map(d => withClass('dest', bar(`${d.volume}/${d.path} — ${d.state.toUpperCase()}`, d.state === 'copying' ? d.bytes_done : d.bytes_verified, d.bytes_total,
    `${bytes(d.bytes_done)} written, ${bytes(d.bytes_verified)} verified of ${bytes(d.bytes_total)} · ${rate(d.rate_bps)}` + (d.eta_seconds ? ` · ETA ${duration(d.eta_seconds)}` : '') + (d.error ? ' · ' + d.error : ''))));
}
function withClass(c, e) { e.classList.add(c); return e; }

function cardArticle(c, rec) {
  const safe = c ? c.safe_to_format : rec.safe_to_format;
  const state = c ? c.state : rec.status;
  const failed = state === 'failed';
  const folder = rec ? rec.folder : (c.dest || '').split('/').slice(1).join('/');
  // A mount still identifying, or ignored (no camera layout), has no key
  // and no record.
  return el('article', { class: 'panel card', 'data-key': (c && c.key) || (rec && rec.key) || '', 'data-state': state, 'data-safe': safe ? 'yes' : 'no' },
    el('h2', {}, (c && c.label) || (rec && rec.label) || (c && c.mount) || 'card', ' ', badge(!failed, state.toUpperCase(), failed ? 'bad' : state === 'offloaded' ? 'ok' : 'warn'), c ? ' mounted at ' + c.mount : ''),
    state === 'ignored' ? el('p', { class: 'muted' }, 'Not a camera card: never copied.') : safeBox(safe, c && c.message),
    c && c.bytes_total ? bar(`Card: ${num(c.files_done)} of ${num(c.files_total)} files`, c.bytes_done, c.bytes_total, `${bytes(c.bytes_done)} of ${bytes(c.bytes_total)}`) : null,
    destBars((c && c.destinations && c.destinations.length ? c.destinations : rec && rec.destinations)),
    (c && c.reason) || (rec && rec.reason) ? el('p', { class: 'bad', role: 'alert' }, '✖ Failure: ', (c && c.reason) || rec.reason, (c && c.failed_path) || (rec && rec.failed_path) ? ` (${(c && c.failed_path) || rec.failed_path})` : '') : null,
    kv([rec ? ['Layout', rec.layout] : null, rec ? ['Files', `${num(rec.files)} · ${bytes(rec.bytes)}`] : null,
      rec ? ['Clips', num((rec.clips || []).length)] : null, rec && rec.generation ? ['ASC MHL', rec.generation] : null,
      rec ? ['Started', timeEl(rec.started)] : null, rec ? ['Finished', timeEl(rec.finished)] : null,
      rec && rec.safe_at ? ['Safe since', timeEl(rec.safe_at)] : null,
      (c && c.skipped || rec && rec.skipped) ? ['Not copied', ((c && c.skipped) || rec.skipped).map(s => s.path + ': ' + s.reason).join('; ')] : null,
      rec && rec.id && safe ? ['Report', el('a', { href: `/v1/cards/${rec.id}/report`, class: 'report', target: '_blank', rel: 'noopener' }, 'offload report'), ' (', el('a', { href: `/v1/cards/${rec.id}/report.json`, target: '_blank', rel: 'noopener' }, 'JSON'), ')'] : null,
      folder ? ['Browse', el('a', { href: '#/assets?q=' + encodeURIComponent(folder) }, 'offloaded files of ' + folder)] : null]));
}

async function cardsPage(root) {
  const list = el('div', { class: 'grid', id: 'cards' });
  const hist = el('div', { class: 'grid', id: 'card-history' });
  root.append(el('h1', {}, 'Cards'), el('h2', {}, 'Mounted now'), list, el('h2', {}, 'Every card seen'), hist);
  let records = [];
  let status = [];
  const render = () => {
    const byKey = Object.fromEntries(records.map(r => [r.key, r]));
    clear(list, status.length ? status.map(c => cardArticle(c, byKey[c.key])) : el('p', { class: 'muted' }, 'No card mounted.'));
    const mounted = new Set(status.map(c => c.key));
    clear(hist, records.filter(r => !mounted.has(r.key)).map(r => cardArticle(null, r)));
    if (!records.length) hist.append(el('p', { class: 'muted' }, 'No card offloaded yet.'));
  };
  const load = async () => { try { records = (await api('/v1/cards')).cards || []; } catch (e) { records = []; } render(); };
  const since = live.mark();
  await load();
  const reload = coalesce(load);
  const u1 = live.onStatus(st => { status = (st.cards && st.cards.cards) || []; render(); });
  const u2 = live.onFeed(ev => { if (ev.type.startsWith('card.')) reload(); }, since);
  return () => { u1(); u2(); reload.stop(); };
}

// ---- Assets ----

function assetRow(a) {
  const loc = (a.locations || []).find(l => l.state === 'present') || (a.locations || [])[0] || {};
  const name = (loc.path || '').split('/').pop() || a.id;
  const hasPoster = a.proxy && (a.proxy.outputs || []).includes('poster.jpg');
  return el('tr', { 'data-id': a.id },
    el('td', {}, hasPoster ? el('img', { class: 'poster', src: `/v1/assets/${a.id}/poster`, alt: '', loading: 'lazy', width: 96, height: 54 }) : el('span', { class: 'muted' }, a.kind || '—')),
    el('td', {}, el('a', { href: '#/asset/' + a.id }, name), el('div', { class: 'muted mono' }, locPath(loc))),
    el('td', {}, a.kind || 'unknown'),
    el('td', { class: 'num' }, bytes(a.size)),
    el('td', { class: 'num hide-sm' }, a.media && a.media.duration ? duration(a.media.duration) : '—'),
    el('td', { class: 'hide-sm' }, timeEl(a.first_seen)),
    el('td', {}, a.proxy ? badge(a.proxy.status === 'ready', a.proxy.status, a.proxy.status === 'ready' ? 'ok' : a.proxy.status === 'failed' ? 'bad' : 'muted') : '—'));
}

async function assetsPage(root, r) {
  const p = r.params;
  const f = el('form', { class: 'search', role: 'search', onsubmit: ev => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const n of ['q', 'kind', 'proxy', 'since', 'until']) { const v = f.elements[n].value.trim(); if (v) q.set(n, v); }
    location.hash = '#/assets?' + q.toString();
  } },
    el('label', {}, 'Name or path', el('input', { name: 'q', type: 'search', value: p.get('q') || '', placeholder: 'A001, day 1/…' })),
    el('label', {}, 'Kind', el('select', { name: 'kind' }, ['', 'video', 'audio', 'image', 'other', 'unknown'].map(k => el('option', { value: k, selected: p.get('kind') === k }, k || 'any')))),
    el('label', {}, 'Proxy', el('select', { name: 'proxy' }, ['', 'ready', 'queued', 'failed', 'unsupported', 'none'].map(k => el('option', { value: k, selected: p.get('proxy') === k }, k || 'any')))),
    el('label', {}, 'First seen from', el('input', { name: 'since', type: 'date', value: p.get('since') || '' })),
    el('label', {}, 'to', el('input', { name: 'until', type: 'date', value: p.get('until') || '' })),
    el('button', { type: 'submit', class: 'primary' }, 'Search'));
  const tbody = el('tbody', {});
  const info = el('p', { class: 'muted', role: 'status', id: 'assets-info' });
  const pager = el('div', { class: 'pager' });
  root.append(el('h1', {}, 'Assets'), f, el('div', { class: 'scroll' }, el('table', { class: 'assets' },
    el('thead', {}, el('tr', {}, ['', 'Name', 'Kind', 'Size', 'Duration', 'First seen', 'Proxy'].map((h, i) => el('th', { scope: 'col', class: (i === 3 || i === 4 ? 'num ' : '') + (i === 4 || i === 5 ? 'hide-sm' : '') }, h)))), tbody)), info, pager);
  const filtered = ['q', 'kind', 'proxy', 'since', 'until'].some(k => p.get(k));
  const stack = [];
  let gen = 0; // a newer load abandons an older one's search steps
  const load = async after => {
    const my = ++gen;
    const q = new URLSearchParams(p);
    q.set('limit', '50');
    // The form's dates are the browser's days (the API takes a bare date as UTC's).
    if (p.get('since')) q.set('since', localDay(p.get('since'), false));
    if (p.get('until')) q.set('until', localDay(p.get('until'), true));
    info.textContent = 'Loading…';
    // A filtered request reads at most 20,000 assets: keep stepping (up to
    // ~3 s) until the page is full or the catalog ends, showing progress.
    let rows = [], next = after, scanned = 0, doc;
    const t0 = Date.now();
    do {
      if (next) q.set('after', next); else q.delete('after');
      doc = await api('/v1/assets?' + q.toString());
      if (my !== gen) return;
      rows = rows.concat(doc.assets);
      scanned += doc.scanned || 0;
      next = doc.next;
      if (filtered) info.textContent = `Searching… ${num(scanned)} assets read, ${rows.length} found`;
    } while (filtered && next && rows.length < 50 && Date.now() - t0 < 3000);
    clear(tbody, rows.slice(0, 50).map(assetRow));
    if (rows.length > 50) next = rows[49].id; // continue after the last shown
    info.textContent = `${Math.min(rows.length, 50)} shown` + (filtered ? ` · ${num(scanned)} assets searched` : '') + (next ? '' : ' · end of the catalog');
    clear(pager,
      el('button', { type: 'button', disabled: stack.length === 0, onclick: () => { stack.pop(); load(stack[stack.length - 1] || ''); } }, '← Previous'),
      next ? el('button', { type: 'button', id: 'next-page', onclick: () => { stack.push(next); load(next); } }, filtered && rows.length === 0 ? 'Search further →' : 'Next →') : null);
  };
  await load('');
  return null;
}

// ---- Events ----

const eventTypes = ['asset.cataloged', 'asset.updated', 'location.added', 'location.changed', 'location.removed', 'location.corrupt', 'volume.offline', 'volume.online',
  'proxy.ready', 'proxy.failed', 'asset.synced', 'card.offloaded', 'card.failed', 'card.safe', 'clip.proxy_ready', 'appliance.started', 'disk.low', 'disk.ok'];

export function eventRow(ev) {
  const cls = /failed|offline|corrupt|low/.test(ev.type) ? 'bad' : /removed|changed/.test(ev.type) ? 'warn' : '';
  return el('tr', { 'data-type': ev.type, 'data-seq': ev.seq },
    el('td', { class: 'num' }, ev.seq), el('td', {}, timeEl(ev.time)), el('td', { class: cls }, ev.type),
    el('td', {}, ev.asset_id ? assetLink(ev.asset_id) : ''), el('td', {}, locPath(ev)), el('td', { class: 'mono' }, (ev.detail || '').slice(0, 300)));
}

async function eventsPage(root, r) {
  const type = r.params.get('type') || '';
  const sel = el('select', { id: 'event-type', onchange: () => { location.hash = '#/events' + (sel.value ? '?type=' + encodeURIComponent(sel.value) : ''); } },
    el('option', { value: '' }, 'all types'), eventTypes.map(t => el('option', { value: t, selected: t === type }, t)));
  const tbody = el('tbody', {});
  root.append(el('h1', {}, 'Events'), el('form', { class: 'search', onsubmit: e => e.preventDefault() }, el('label', {}, 'Type', sel), el('span', { class: 'muted' }, 'Newest first; new events appear live.')),
    el('div', { class: 'scroll' }, el('table', { class: 'events' }, el('thead', {}, el('tr', {}, ['Seq', 'Time', 'Type', 'Asset', 'Where', 'Detail'].map(h => el('th', { scope: 'col' }, h)))), tbody)));
  const info = el('p', { class: 'muted', role: 'status', id: 'events-info' });
  root.append(info);
  const st = await api('/v1/status');
  const last = (st.catalog && st.catalog.last_seq) || 0;
  const keep = ev => !type || ev.type === type;
  // The last 1000 events; filtered, the page looks further back, 1000
  // events a request, until it has 300 rows (at most 20 requests).
  let found = [], from = last, seen = 0;
  for (let i = 0; i < 20; i++) {
    const after = Math.max(0, from - 1000);
    const doc = await api(`/v1/feed?after=${after}&limit=1000`);
    if (i === 0) seen = doc.next;
    found = found.concat(doc.events.filter(keep).reverse());
    from = after;
    if (!type || found.length >= 300 || after === 0) break;
  }
  tbody.append(...found.slice(0, 300).map(eventRow));
  info.textContent = `${Math.min(found.length, 300)} shown of events ${num(from + 1)}–${num(last)}` + (from === 0 ? ' (the whole feed)' : '');
  return live.onFeed(ev => {
    if (ev.seq <= seen || !keep(ev)) return;
    seen = ev.seq;
    tbody.prepend(eventRow(ev));
    while (tbody.children.length > 500) tbody.lastChild.remove();
  }, seen);
}

// ---- Problems ----

// verdict reads POST /v1/verify's NDJSON answer: what the check found.
function verdict(text) {
  const lines = String(text || '').split('\n').filter(Boolean).map(l => { try { return JSON.parse(l); } catch (e) { return {}; } });
  const bad = lines.filter(l => ['corrupt', 'missing', 'changed', 'error'].includes(l.type));
  if (bad.length) throw new Error('still ' + bad.map(l => l.type.toUpperCase() + (l.detail ? ' (' + l.detail + ')' : '')).join(', '));
  const done = lines.find(l => l.type === 'done');
  if (!done || !done.ok) throw new Error('nothing was checked (is the file still cataloged there?)');
  return 'matches its hash now';
}

// act posts an action; okText is the success text, or a function of the
// answer that returns it (or throws what went wrong).
async function act(btn, path, okText) {
  btn.disabled = true;
  const out = btn.parentElement.querySelector('.result') || btn.parentElement.appendChild(el('span', { class: 'result', role: 'status' }));
  try {
    const doc = await api(path, { method: 'POST' });
    out.textContent = ' ✔ ' + (typeof okText === 'function' ? okText(doc) : okText);
    out.className = 'result ok';
  } catch (e) {
    out.textContent = ' ✖ ' + e.message;
    out.className = 'result bad';
    btn.disabled = false;
  }
  return { text: out.textContent, cls: out.className };
}

async function problemsPage(root) {
  const vols = el('div', {}), hook = el('div', {}), disk = el('div', {}), failed = el('tbody', {}), corrupt = el('tbody', {});
  root.append(el('h1', {}, 'Problems'), el('div', { class: 'grid' },
    panel('Offline volumes', vols), panel('Webhook', hook), panel('Disk', disk),
    el('section', { class: 'panel wide', 'aria-label': 'Failed proxies' }, el('h2', {}, 'Failed proxies'), table(['Asset', 'Where', 'Error', 'Action'], failed, 'failed')),
    el('section', { class: 'panel wide', 'aria-label': 'Corrupt locations' }, el('h2', {}, 'Corrupt locations (recent fixity failures)'), table(['Time', 'Asset', 'Where', 'Detail', 'Action'], corrupt, 'corrupt'))));
  const renderStatus = st => {
    const off = (st.volumes || []).filter(v => !v.online);
    clear(vols, off.length ? off.map(v => el('p', { 'data-volume': v.name }, badge(false, 'OFFLINE'), ` ${v.name}: ${v.reason || ''} `,
      el('button', { type: 'button', onclick: e => act(e.target, `/v1/volumes/${encodeURIComponent(v.name)}/rescan`, 'check and rescan requested') }, 'Check again and rescan')))
      : el('p', { class: 'ok' }, '✔ Every volume is online.'),
    el('p', { class: 'muted' }, 'Rescan any volume: ', (st.volumes || []).map(v => el('button', { type: 'button', class: 'link', onclick: e => act(e.target, `/v1/volumes/${encodeURIComponent(v.name)}/rescan`, 'requested') }, v.name))));
    const wh = st.sync && st.sync.webhook;
    clear(hook, !wh ? el('p', { class: 'muted' }, 'No hub.webhook configured.') : wh.parked ? el('p', {}, badge(false, 'PARKED'), ` events ${wh.parked.first_seq}–${wh.parked.last_seq}: ${wh.parked.error} `,
      el('button', { type: 'button', id: 'unpark', onclick: e => act(e.target, '/v1/sync/webhook/unpark', 'un-parked: the batch is sent again') }, 'Un-park (send again)')) : el('p', { class: 'ok' }, '✔ Delivering.'));
    clear(disk, st.disk && st.disk.low ? el('p', { class: 'bad' }, `✖ Below ${st.disk.min_free}: ${(st.disk.paused || []).join(', ')} paused. Free space to resume.`) : el('p', { class: 'ok' }, '✔ Enough free space.'));
  };
  const loadFailed = async () => {
    const doc = await api('/v1/assets?proxy=failed&limit=100');
    clear(failed, doc.assets.length ? doc.assets.map(a => el('tr', { 'data-id': a.id }, el('td', {}, assetLink(a.id)), el('td', {}, locPath((a.locations || [])[0] || {})), el('td', { class: 'mono' }, (a.proxy && a.proxy.error || '').slice(0, 400)),
      el('td', {}, el('button', { type: 'button', class: 'retry', onclick: e => act(e.target, `/v1/assets/${a.id}/retry`, 'queued again') }, 'Retry proxy'))))
      : el('tr', {}, el('td', { colspan: 4, class: 'ok' }, '✔ No failed proxy' + (doc.next ? ' in the first ' + num(doc.scanned) + ' assets' : '') + '.')));
  };
  // One row per location (its newest location.corrupt); a check's result
  // stays shown when the check's own event redraws the table.
  const results = new Map();
  let corruptGen = 0;
  const loadCorrupt = async () => {
    const my = ++corruptGen;
    const st = await api('/v1/status');
    const last = (st.catalog && st.catalog.last_seq) || 0;
    const doc = await api(`/v1/feed?after=${Math.max(0, last - 1000)}&limit=1000`);
    if (my !== corruptGen) return;
    const seen = new Set();
    const evs = doc.events.filter(e => e.type === 'location.corrupt').reverse().filter(e => !seen.has(locPath(e)) && seen.add(locPath(e)));
    clear(corrupt, evs.length ? evs.map(ev => { const key = locPath(ev), res = results.get(key); return el('tr', { 'data-id': ev.asset_id }, el('td', {}, timeEl(ev.time)), el('td', {}, assetLink(ev.asset_id)), el('td', {}, key), el('td', { class: 'mono' }, ev.detail || ''),
      el('td', {}, el('button', { type: 'button', class: 'recheck', onclick: e => act(e.target, `/v1/verify?volume=${encodeURIComponent(ev.volume)}&path=${encodeURIComponent(ev.path)}${ev.path_b64 ? '&path_b64=' + encodeURIComponent(ev.path_b64) : ''}`, verdict).then(r => { results.set(key, r); loadCorrupt().catch(() => {}); }) }, 'Check again'),
        res ? el('span', { class: res.cls, role: 'status' }, res.text) : null)); })
      : el('tr', {}, el('td', { colspan: 5, class: 'ok' }, '✔ No corrupt location in the last 1000 events.')));
  };
  const since = live.mark();
  await Promise.all([loadFailed(), loadCorrupt()]);
  // Reloads that events trigger are coalesced: a burst of proxy events (a
  // card's hundred clips) is one search every 2 s, not one per event.
  const reFailed = coalesce(loadFailed), reCorrupt = coalesce(loadCorrupt);
  const u1 = live.onStatus(renderStatus);
  const u2 = live.onFeed(ev => { if (ev.type === 'proxy.failed' || ev.type === 'proxy.ready') reFailed(); if (ev.type === 'location.corrupt') reCorrupt(); }, since);
  return () => { u1(); u2(); reFailed.stop(); reCorrupt.stop(); };
}

export const pages = { overview, cards: cardsPage, assets: assetsPage, asset: assetPage, sequences: sequencesPage, sequence: sequencePage, events: eventsPage, problems: problemsPage };
