// The PTZ pad (contract §5): press and hold = continuous move, release = stop. While a button is held the
// move is repeated before its timeoutMs runs out, so the gateway's dead-man stop halts the camera by itself if
// this page goes away without a release (tab closed, network lost).
import { h } from './dom.js';
import { channelPath, getJson, postJson } from './api.js';

const TIMEOUT_MS = 1000;
const REPEAT_MS = 400;
const SPEED = 0.5;

const DIRECTIONS = [
  ['up-left', '↖', 'Up left', -1, 1], ['up', '↑', 'Up', 0, 1], ['up-right', '↗', 'Up right', 1, 1],
  ['left', '←', 'Left', -1, 0], null, ['right', '→', 'Right', 1, 0],
  ['down-left', '↙', 'Down left', -1, -1], ['down', '↓', 'Down', 0, -1], ['down-right', '↘', 'Down right', 1, -1],
];

export function ptzPad(deviceId, channel, onError) {
  const base = `${channelPath(deviceId, channel)}/ptz`;
  let holding = null;
  let repeat = 0;

  const send = (vector) => postJson(`${base}/move`, { mode: 'continuous', pan: vector[0], tilt: vector[1], zoom: vector[2], timeoutMs: TIMEOUT_MS })
    .catch(onError);
  const press = (button, vector) => {
    if (holding) return;
    holding = button;
    button.classList.add('held');
    send(vector);
    repeat = setInterval(() => send(vector), REPEAT_MS);
  };
  const release = () => {
    if (!holding) return;
    holding.classList.remove('held');
    holding = null;
    clearInterval(repeat);
    postJson(`${base}/stop`).catch(onError);
  };
  const hold = (label, text, vector, cls) => {
    const b = h('button', { type: 'button', class: `ptz-btn ${cls ?? ''}`, 'aria-label': label, title: label, dataset: { ptz: label } }, text);
    b.addEventListener('pointerdown', (e) => { e.preventDefault(); b.setPointerCapture?.(e.pointerId); press(b, vector); });
    b.addEventListener('pointerup', release);
    b.addEventListener('pointercancel', release);
    b.addEventListener('lostpointercapture', release);
    b.addEventListener('keydown', (e) => { if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) { e.preventDefault(); press(b, vector); } });
    b.addEventListener('keyup', (e) => { if (e.key === ' ' || e.key === 'Enter') release(); });
    b.addEventListener('blur', release);
    b.addEventListener('contextmenu', (e) => e.preventDefault());
    return b;
  };

  const pad = h('div', { class: 'ptz-pad', role: 'group', 'aria-label': 'Pan and tilt' },
    DIRECTIONS.map((d) => (d ? hold(d[2], d[1], [d[3] * SPEED, d[4] * SPEED, 0]) : h('span', { class: 'ptz-center', 'aria-hidden': 'true' }, 'PTZ'))));
  const zoom = h('div', { class: 'ptz-zoom', role: 'group', 'aria-label': 'Zoom' },
    hold('Zoom out', '−', [0, 0, -SPEED]), hold('Zoom in', '+', [0, 0, SPEED]));
  const select = h('select', { 'aria-label': 'Preset' }, h('option', { value: '' }, 'Presets…'));
  const go = h('button', { type: 'button', disabled: true }, 'Go');
  select.addEventListener('change', () => { go.disabled = !select.value; });
  go.addEventListener('click', () => {
    if (select.value) postJson(`${base}/presets/${encodeURIComponent(select.value)}/goto`).catch(onError);
  });
  getJson(`${base}/presets`).then((r) => {
    for (const p of r.presets ?? []) select.append(h('option', { value: p.token }, p.name || p.token));
  }, onError);
  window.addEventListener('blur', release);
  return h('section', { class: 'ptz', 'aria-label': 'PTZ' }, h('h2', {}, 'PTZ'), pad, zoom, h('div', { class: 'presets' }, select, go));
}
