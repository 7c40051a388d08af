// Frame sequences (GET /v1/sequences): the list, and a sequence's page
// playing its proxy with the source frame number and timecode of the
// playhead. The proxy has one video frame per present frame (missing frames
// are skipped), so the playhead's frame index maps to a frame number past
// the gaps before it.
import { el, clear, api, bytes, num, timeEl, badge } from './util.js';
import { parseRate, tcToFrames, framesToTC } from './asset.js';

const pageSize = 50;

function proxyBadge(p) {
  if (!p) return badge(false, 'NONE', 'muted');
  return badge(p.status === 'ready', p.status.toUpperCase(), p.status === 'ready' ? 'ok' : p.status === 'failed' ? 'bad' : 'muted');
}

function hasOut(s, name) { return !!(s.proxy && (s.proxy.outputs || []).includes(name)); }

function where(s) { return (s.volume ? s.volume + '/' : '') + (s.folder ? s.folder + '/' : '') + (s.pattern || ''); }

export async function sequencesPage(root) {
  const tbody = el('tbody', {});
  const info = el('p', { class: 'muted', role: 'status', id: 'sequences-info' });
  const pager = el('div', { class: 'pager' });
  root.append(el('h1', {}, 'Sequences'),
    el('p', { class: 'muted' }, 'Numbered frames (DPX, EXR, TIFF, PNG, JPEG) grouped into one record each; every frame is also an asset.'),
    el('div', { class: 'scroll' }, el('table', { class: 'sequences' },
      el('thead', {}, el('tr', {}, ['', 'Pattern', 'Frames', 'Missing', 'Picture', 'Size', 'Proxy'].map(h => el('th', { scope: 'col' }, h)))), tbody)),
    info, pager);
  const stack = [];
  const load = async after => {
    const doc = await api(`/v1/sequences?limit=${pageSize}` + (after ? '&after=' + after : ''));
    const seqs = doc.sequences || [];
    clear(tbody, seqs.map(s => el('tr', { 'data-id': s.id },
      el('td', {}, hasOut(s, 'poster.jpg') ? el('img', { class: 'poster', src: `/v1/sequences/${s.id}/poster`, alt: '', loading: 'lazy', width: 96, height: 54 }) : el('span', { class: 'muted' }, s.ext || '—')),
      el('td', {}, el('a', { href: '#/sequence/' + s.id }, s.pattern || s.id), el('div', { class: 'muted mono' }, where(s))),
      el('td', { class: 'num' }, `${s.first_frame}–${s.last_frame} (${num(s.frames)})`),
      el('td', { class: 'num' }, s.missing_frames ? badge(false, num(s.missing_frames), 'warn') : '0'),
      el('td', {}, [s.width && s.height ? `${s.width}×${s.height}` : '', s.frame_rate ? ` ${s.frame_rate} fps` : ''].join('')),
      el('td', { class: 'num' }, bytes(s.bytes)),
      el('td', {}, proxyBadge(s.proxy)))));
    if (!seqs.length) tbody.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No frame sequence cataloged.')));
    info.textContent = `${seqs.length} shown` + (doc.next ? '' : ' · the end of the list');
    clear(pager,
      el('button', { type: 'button', disabled: stack.length === 0, onclick: () => { stack.pop(); load(stack[stack.length - 1] || ''); } }, '← Previous'),
      doc.next ? el('button', { type: 'button', id: 'next-page', onclick: () => { stack.push(doc.next); load(doc.next); } }, 'Next →') : null);
  };
  await load('');
  return null;
}

// frameNumber: the frame number of the proxy's idx-th frame (the
// present frames in order: each gap before it is skipped over).
export function frameNumber(s, idx) {
  let n = s.first_frame + idx;
  for (const g of s.missing || []) {
    if (g.first <= n) n += g.last - g.first + 1; else break;
  }
  return n;
}

export async function sequencePage(root, r) {
  const s = await api('/v1/sequences/' + encodeURIComponent(r.arg));
  const fps = parseRate(s.frame_rate) || 24;
  const df = /;/.test(s.timecode || '');
  const start = s.timecode ? tcToFrames(s.timecode, fps, df) : 0;
  const tc = el('output', { class: 'tc', id: 'tc', 'data-frame': String(s.first_frame) }, s.timecode || String(s.first_frame));
  const frameNo = el('span', { class: 'muted', id: 'frame-no' }, '');
  const ready = s.proxy && s.proxy.status === 'ready' && hasOut(s, 'proxy.mp4');
  const left = el('div', {});
  if (ready) {
    const v = el('video', { id: 'player', controls: true, preload: 'auto', playsinline: true, src: `/v1/sequences/${s.id}/proxy`, poster: hasOut(s, 'poster.jpg') ? `/v1/sequences/${s.id}/poster` : null });
    const count = (s.proxy && s.proxy.frames) || s.frames || 1;
    const show = t => {
      const idx = Math.min(count - 1, Math.max(0, Math.floor(t * fps + 1e-3)));
      const n = frameNumber(s, idx);
      tc.textContent = s.timecode ? framesToTC(start + (n - s.first_frame), fps, df) : String(n);
      tc.dataset.frame = String(n);
      frameNo.textContent = `frame ${n} (${idx + 1} of ${num(count)})`;
    };
    v.addEventListener('timeupdate', () => show(v.currentTime));
    v.addEventListener('seeked', () => show(v.currentTime));
    if (v.requestVideoFrameCallback) {
      const cb = (now, md) => { show(md.mediaTime + 0.5 / fps); v.requestVideoFrameCallback(cb); };
      v.requestVideoFrameCallback(cb);
    }
    left.append(v, el('div', { class: 'controls' }, el('span', {}, s.timecode ? 'Source timecode ' : 'Frame ', tc), ' ', frameNo));
  } else {
    left.append(el('p', { class: 'muted' }, s.proxy ? `No proxy to play (proxy ${s.proxy.status}${s.proxy.error ? ': ' + s.proxy.error : ''}).` : 'No proxy yet (the sequence is settling).'));
  }
  const gaps = (s.missing || []).map(g => g.first === g.last ? String(g.first) : `${g.first}–${g.last}`);
  const kv = pairs => el('dl', { class: 'kv' }, pairs.filter(Boolean).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  clear(root,
    el('h1', {}, s.pattern || s.id, ' ', el('span', { class: 'muted' }, 'sequence')),
    el('div', { class: 'player' }, left,
      el('section', { class: 'panel', 'aria-label': 'Details' }, el('h2', {}, 'Details'), kv([
        ['Where', el('span', { class: 'mono' }, where(s))],
        ['Frames', `${s.first_frame}–${s.last_frame} · ${num(s.frames)} present`],
        ['Missing', s.missing_frames ? badge(false, `${num(s.missing_frames)}: ${gaps.join(', ')}${(s.missing || []).length >= 1000 ? ' …' : ''}`, 'warn') : badge(true, 'none')],
        ['Picture', [s.width && s.height ? `${s.width}×${s.height}` : '—', s.pix_fmt, s.bit_depth ? s.bit_depth + '-bit' : '', s.color_transfer].filter(Boolean).join(' ')],
        ['Frame rate', s.frame_rate ? `${s.frame_rate} (${s.frame_rate_source || '?'})` : '—'],
        ['Timecode', s.timecode || '—'],
        ['Size', bytes(s.bytes)],
        ['Changed', timeEl(s.changed)],
        ['Proxy', [proxyBadge(s.proxy), s.proxy && s.proxy.bytes ? ` · ${bytes(s.proxy.bytes)}` : '']],
        s.probe_error ? ['Probe error', el('span', { class: 'bad mono' }, s.probe_error)] : null,
        s.first_asset ? ['First frame', el('a', { href: '#/asset/' + s.first_asset }, s.first_path || s.first_asset)] : null,
        ['Frames as assets', el('a', { href: '#/assets?q=' + encodeURIComponent(where({ volume: s.volume, folder: s.folder, pattern: s.base || '' })) }, 'search')]]))));
  return null;
}
