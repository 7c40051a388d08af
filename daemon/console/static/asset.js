// The asset page: proxy player (Range-served by the API), frame-accurate
// source timecode of the playhead, filmstrip scrubbing, waveform, metadata,
// locations, hashes, proxy and sync state, and the asset's recent events.
import { el, clear, api, bytes, num, timeEl, duration, badge, locPath } from './util.js';
import * as live from './live.js';

function kv(pairs) { return el('dl', { class: 'kv' }, pairs.filter(Boolean).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])); }
const pad = n => String(n).padStart(2, '0');

export function parseRate(fr) {
  if (!fr) return 0;
  const [a, b] = String(fr).split('/').map(Number);
  return b ? a / b : a;
}

// tcToFrames / framesToTC: SMPTE timecode at a nominal rate, drop-frame
// for 29.97 and 59.94 (2 or 4 frame numbers dropped each minute but every
// tenth).
export function tcToFrames(tc, fps, df) {
  const p = String(tc).split(/[:;.]/).map(Number);
  if (p.length !== 4 || p.some(isNaN)) return 0;
  const nom = Math.round(fps);
  let f = ((p[0] * 3600 + p[1] * 60 + p[2]) * nom) + p[3];
  if (df) { const d = nom >= 50 ? 4 : 2; const mins = p[0] * 60 + p[1]; f -= d * (mins - Math.floor(mins / 10)); }
  return f;
}

export function framesToTC(n, fps, df) {
  const nom = Math.round(fps);
  if (df) {
    const d = nom >= 50 ? 4 : 2, per10 = nom * 600 - d * 9, per1 = nom * 60 - d;
    const D = Math.floor(n / per10), M = n % per10;
    n += d * 9 * D + (M > d ? d * Math.floor((M - d) / per1) : 0);
  }
  const f = n % nom, s = Math.floor(n / nom) % 60, m = Math.floor(n / (nom * 60)) % 60, h = Math.floor(n / (nom * 3600)) % 24;
  return `${pad(h)}:${pad(m)}:${pad(s)}${df ? ';' : ':'}${pad(f)}`;
}

function drawWave(canvas, w) {
  const dpr = window.devicePixelRatio || 1;
  const W = canvas.clientWidth * dpr, H = canvas.clientHeight * dpr;
  canvas.width = W; canvas.height = H;
  const g = canvas.getContext('2d');
  const ch = w.channels || 1, n = w.length || 0;
  g.fillStyle = getComputedStyle(canvas).color;
  // Scaled to the loudest peak (a quiet take is still readable).
  let top = 1;
  for (const v of w.peaks || []) top = Math.max(top, Math.abs(v));
  for (let x = 0; x < W; x++) {
    const i = Math.floor((x / W) * n);
    let lo = 0, hi = 0;
    for (let c = 0; c < ch; c++) { lo = Math.min(lo, w.peaks[(i * ch + c) * 2] || 0); hi = Math.max(hi, w.peaks[(i * ch + c) * 2 + 1] || 0); }
    const y1 = H / 2 - (hi / top) * (H / 2 - 2), y2 = H / 2 - (lo / top) * (H / 2 - 2);
    g.fillRect(x, y1, 1, Math.max(1, y2 - y1));
  }
}

export async function assetPage(root, r) {
  const id = r.arg;
  const since = live.mark(); // events that arrive while this page loads are not lost
  const a = await api('/v1/assets/' + encodeURIComponent(id));
  const present = (a.locations || []).find(l => l.state === 'present') || (a.locations || [])[0] || {};
  const name = (present.path || a.id).split('/').pop();
  const m = a.media || {};
  const vs = (m.streams || []).find(s => s.type === 'video' && !s.attached_pic);
  const fps = parseRate(vs && vs.frame_rate) || 25;
  const outs = (a.proxy && a.proxy.outputs) || [];
  const ready = a.proxy && a.proxy.status === 'ready';
  const startFrames = m.timecode ? tcToFrames(m.timecode, fps, m.drop_frame) : 0;
  const tc = el('output', { class: 'tc', id: 'tc', 'aria-live': 'off', 'data-frame': '0' }, !vs ? '00:00:00.000' : m.timecode ? framesToTC(startFrames, fps, m.drop_frame) : '00:00:00:00');
  let media = null;
  if (ready && outs.includes('proxy.mp4')) media = el('video', { id: 'player', controls: true, preload: 'auto', playsinline: true, src: `/v1/assets/${a.id}/proxy`, poster: outs.includes('poster.jpg') ? `/v1/assets/${a.id}/poster` : null });
  else if (ready && outs.includes('proxy.m4a')) media = el('audio', { id: 'player', controls: true, preload: 'auto', src: `/v1/assets/${a.id}/proxy` });
  else if (ready && outs.includes('proxy.jpg')) media = el('img', { class: 'still', src: `/v1/assets/${a.id}/proxy`, alt: name });
  const left = el('div', {});
  if (media) left.append(media); else left.append(el('p', { class: 'muted' }, a.proxy ? `No proxy to play (proxy ${a.proxy.status}${a.proxy.error ? ': ' + a.proxy.error : ''}).` : 'Not media: no proxy.'));
  const isAV = media && media.tagName !== 'IMG';
  if (isAV) {
    const step = d => { media.pause(); media.currentTime = (Math.min(lastFrame(), Math.max(0, frameAt(media.currentTime) + d)) + 0.5) / fps; };
    left.append(el('div', { class: 'controls' },
      vs ? el('span', {}, 'Source timecode ', tc, m.timecode ? null : el('span', { class: 'muted' }, ' (no source timecode: from 00:00:00:00)')) : el('span', {}, 'Position ', tc),
      media.tagName === 'VIDEO' ? [el('button', { type: 'button', onclick: () => step(-1), 'aria-label': 'Previous frame' }, '◀ frame'), el('button', { type: 'button', onclick: () => step(1), 'aria-label': 'Next frame' }, 'frame ▶')] : null,
      el('span', { class: 'muted', id: 'frame-no' }, '')));
  }
  // The last frame's index: at the end the playhead (currentTime ===
  // duration) is past the last frame's start, and the picture shown is
  // still the last frame, not one after it.
  const lastFrame = () => {
    const d = media && isFinite(media.duration) && media.duration > 0 ? media.duration : (m.duration || 0);
    return d > 0 ? Math.max(0, Math.ceil(d * fps - 1e-3) - 1) : Infinity;
  };
  const frameAt = t => Math.min(lastFrame(), Math.max(0, Math.floor(t * fps + 1e-3)));
  const clock = t => `${pad(Math.floor(t / 3600))}:${pad(Math.floor(t / 60) % 60)}:${pad(Math.floor(t) % 60)}.${String(Math.floor((t % 1) * 1000)).padStart(3, '0')}`;
  const setFrame = (f, t) => {
    tc.textContent = vs ? framesToTC(startFrames + f, fps, m.drop_frame) : clock(t);
    tc.dataset.frame = String(f);
    const fn = document.getElementById('frame-no');
    if (fn) fn.textContent = vs ? `frame ${num(f)} · ${t.toFixed(3)} s` : '';
    for (const h of left.querySelectorAll('.head')) h.style.left = (m.duration ? (100 * t) / m.duration : 0) + '%';
    // The slider tells assistive technology where the playhead is.
    const strip = left.querySelector('.strip');
    if (strip) { strip.setAttribute('aria-valuenow', String(Math.round(t))); strip.setAttribute('aria-valuetext', tc.textContent); }
  };
  const seekFrac = (ev, box) => {
    const rect = box.getBoundingClientRect();
    const frac = Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width));
    media.currentTime = frac * (media.duration || m.duration || 0);
  };
  if (isAV && outs.includes('filmstrip.jpg')) {
    const strip = el('div', { class: 'strip', role: 'slider', tabindex: 0, 'aria-label': 'Filmstrip: click or drag to scrub, arrow keys step one second', 'aria-valuemin': 0, 'aria-valuemax': Math.round(m.duration || 0), 'aria-valuenow': 0 },
      el('img', { src: `/v1/assets/${a.id}/filmstrip`, alt: '', draggable: 'false' }), el('span', { class: 'head' }));
    let drag = false;
    strip.addEventListener('pointerdown', e => { drag = true; strip.setPointerCapture(e.pointerId); seekFrac(e, strip); });
    strip.addEventListener('pointermove', e => { if (drag) seekFrac(e, strip); });
    strip.addEventListener('pointerup', () => { drag = false; });
    strip.addEventListener('keydown', e => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') { e.preventDefault(); media.currentTime = Math.max(0, media.currentTime + (e.key === 'ArrowRight' ? 1 : -1)); }
    });
    left.append(strip);
  }
  if (isAV && outs.includes('waveform.json')) {
    const canvas = el('canvas', { 'aria-label': 'Audio waveform (click to seek)', role: 'img' });
    const wave = el('div', { class: 'wave' }, canvas, el('span', { class: 'head' }));
    wave.addEventListener('click', e => seekFrac(e, wave));
    left.append(wave);
    api(`/v1/assets/${a.id}/waveform`).then(w => { drawWave(canvas, w); wave.dataset.peaks = String(w.length); }).catch(() => wave.remove());
  }
  if (isAV) {
    const upd = () => setFrame(frameAt(media.currentTime), media.currentTime);
    media.addEventListener('timeupdate', upd);
    media.addEventListener('seeked', upd);
    if (media.requestVideoFrameCallback) {
      // The presented frame's own media time: exact, not the clock's.
      const cb = (now, md) => { setFrame(Math.min(lastFrame(), Math.max(0, Math.round(md.mediaTime * fps))), md.mediaTime); media.requestVideoFrameCallback(cb); };
      media.requestVideoFrameCallback(cb);
    }
  }
  const streams = (m.streams || []).map(s => el('tr', {}, el('td', {}, s.index), el('td', {}, s.type), el('td', {}, [s.codec, s.profile].filter(Boolean).join(' ')),
    el('td', {}, s.type === 'video' ? `${s.width}×${s.height} ${s.frame_rate || ''} fps ${s.pix_fmt || ''} ${s.field_order || ''} ${s.color_transfer || ''}` : s.type === 'audio' ? `${s.channels} ch ${s.channel_layout || ''} ${s.sample_rate} Hz` : '')));
  const locs = (a.locations || []).map(l => el('tr', {}, el('td', {}, locPath(l)), el('td', {}, l.state === 'present' ? badge(true, 'PRESENT') : badge(false, 'REMOVED', 'muted')), el('td', { class: 'num' }, bytes(l.size)), el('td', {}, timeEl(l.mtime)), el('td', {}, timeEl(l.seen))));
  const evBody = el('tbody', {});
  const evMore = el('p', {});
  const px = a.proxy;
  clear(root,
    el('h1', {}, name, ' ', el('span', { class: 'muted' }, a.kind || '')),
    el('div', { class: 'player' }, left,
      el('section', { class: 'panel', 'aria-label': 'Details' }, el('h2', {}, 'Details'), kv([
        ['Size', bytes(a.size)], ['Duration', m.duration ? duration(m.duration) : '—'], ['Container', m.container || '—'],
        ['Timecode', m.timecode ? m.timecode + (m.drop_frame ? ' (drop-frame)' : '') : '—'], m.reel ? ['Reel', m.reel] : null,
        m.make || m.model ? ['Camera', [m.make, m.model].filter(Boolean).join(' ')] : null,
        ['First seen', timeEl(a.first_seen)],
        ['BLAKE3', el('span', { class: 'mono' }, a.hashes && a.hashes.blake3)], ['XXH128', el('span', { class: 'mono' }, a.hashes && a.hashes.xxh128)],
        ['Proxy', px ? [badge(px.status === 'ready', px.status.toUpperCase(), px.status === 'ready' ? 'ok' : px.status === 'failed' ? 'bad' : 'muted'), px.profile ? ` ${px.profile}` : '', px.lane ? ` (${px.lane})` : '', px.bytes ? ` · ${bytes(px.bytes)}` : ''] : '—'],
        px && px.error ? ['Proxy error', el('span', { class: 'bad mono' }, px.error)] : null,
        ['Hub sync', a.sync ? [badge(a.sync.status === 'synced', a.sync.status.toUpperCase(), a.sync.status === 'synced' ? 'ok' : a.sync.status === 'failed' ? 'bad' : 'muted'), ' ', timeEl(a.sync.at)] : 'not synced'],
        a.origin ? ['Card', [a.origin.card_label, a.origin.card_layout].filter(Boolean).join(' · ')] : null]))),
    el('div', { class: 'grid' },
      el('section', { class: 'panel wide', 'aria-label': 'Streams' }, el('h2', {}, 'Streams'), el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, ['#', 'Type', 'Codec', 'Format'].map(h => el('th', { scope: 'col' }, h)))), el('tbody', {}, streams)))),
      el('section', { class: 'panel wide', 'aria-label': 'Locations' }, el('h2', {}, 'Locations'), el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, ['Where', 'State', 'Size', 'Modified', 'Seen'].map(h => el('th', { scope: 'col' }, h)))), el('tbody', {}, locs)))),
      el('section', { class: 'panel wide', 'aria-label': 'Events' }, el('h2', {}, 'Events (newest first, live)'), el('div', { class: 'scroll' }, el('table', { class: 'events' }, el('thead', {}, el('tr', {}, ['Seq', 'Time', 'Type', 'Where', 'Detail'].map(h => el('th', { scope: 'col' }, h)))), evBody)), evMore)));
  const row = ev => el('tr', { 'data-type': ev.type }, el('td', { class: 'num' }, ev.seq), el('td', {}, timeEl(ev.time)), el('td', {}, ev.type), el('td', {}, locPath(ev)), el('td', { class: 'mono' }, (ev.detail || '').slice(0, 300)));
  // The asset's own events (GET /v1/assets/{id}/events: the catalog's
  // per-asset index, however old), newest first, a page at a time; new
  // ones arrive live on top. A seq shown once is never shown twice.
  const shown = new Set();
  const add = (ev, top) => {
    if (shown.has(ev.seq)) return;
    shown.add(ev.seq);
    if (top) evBody.prepend(row(ev)); else evBody.append(row(ev));
  };
  const page = async before => {
    const doc = await api(`/v1/assets/${a.id}/events?order=desc&limit=200` + (before ? `&before=${before}` : ''));
    for (const ev of doc.events) add(ev, false);
    clear(evMore, doc.events.length === 200 && doc.next > 1 ? el('button', { type: 'button', id: 'older-events', onclick: () => page(doc.next).catch(() => {}) }, 'Older events') : null);
  };
  const pending = [];
  let loaded = false;
  page(0).then(() => { loaded = true; for (const ev of pending) add(ev, true); }).catch(() => {});
  return live.onFeed(ev => {
    if (ev.asset_id !== a.id) return;
    if (loaded) add(ev, true); else pending.push(ev);
  }, since);
}
