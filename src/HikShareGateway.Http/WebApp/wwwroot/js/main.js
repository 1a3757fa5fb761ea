// The web viewer (contract §5.4). Views: sign-in, Others' devices, a device's cameras (grid on the sub stream),
// one camera (main stream, PTZ, talk), playback, alarms. Every control is shown only for a privilege the caller
// holds on that channel; the gateway checks every call anyway.
import { $, h, clear, formatTime } from './dom.js';
import { ApiError, channelPath, request, setApiBase } from './api.js';
import { captureFragmentToken, decodeClaims, expiryOf, getToken, setToken, signOut } from './auth.js';
import { PRIVILEGE_LABELS, can, loadDevices, watchDevices } from './devices.js';
import { Player, WITHDRAWN } from './player.js';
import { ptzPad } from './ptz.js';
import { talkButton } from './talk.js';
import { playbackView } from './playback.js';
import { startAlarms } from './alarms.js';

const VIEWS = ['signin', 'devices', 'live', 'channel', 'playback', 'alarms'];
const state = {
  config: { whep: false, fmp4: false, snapshots: false, deviceChanges: null },
  devices: [],
  watcher: null,
  alarms: null,
  players: [],
  cleanups: [],
  view: 'signin',
  current: null, // { deviceId, channel, privilege } of the open live/channel/playback view
  expiryTimer: 0,
};

function show(view) {
  state.view = view;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  for (const b of $('tabs').querySelectorAll('button')) {
    const here = b.dataset.view === view || (b.dataset.view === 'devices' && ['live', 'channel', 'playback'].includes(view));
    if (here) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
  }
  if (view === 'alarms') state.alarms?.seen();
  const heading = $(`view-${view}`).querySelector('h1');
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

function stopViewers() {
  for (const p of state.players) p.stop();
  state.players = [];
  for (const c of state.cleanups) c();
  state.cleanups = [];
}

const deviceById = (id) => state.devices.find((d) => d.deviceId === id);
const nameOf = (deviceId, channel) => {
  const d = deviceById(deviceId);
  const c = d?.channels.find((x) => x.channel === channel);
  return `${d?.name ?? deviceId} · ${c?.name ?? `Camera ${channel}`}`;
};

/** Asks the gateway now (not the last poll) whether the caller still holds <privilege> there. */
const stillAllowed = (deviceId, channel, privilege) => async () => {
  await state.watcher.refresh();
  return can(deviceById(deviceId), channel, privilege);
};

// :: Sign-in and sign-out.

async function enter(token, fromForm) {
  const claims = decodeClaims(token);
  const error = $('signin-error');
  const fail = (text) => { signOut(); error.textContent = text; error.hidden = false; show('signin'); };
  if (!claims) return fail('That is not a viewer token (a JWT of three parts separated by dots).');
  const exp = expiryOf(claims);
  if (exp && exp <= new Date()) return fail(`This token expired at ${formatTime(exp)}. Ask for a new one.`);
  setToken(token);
  try {
    state.devices = await loadDevices();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return fail('The gateway refused this token (wrong gateway, expired or not signed by a trusted cloud).');
    return fail(`The gateway did not answer: ${e.message}`);
  }
  error.hidden = true;
  if (fromForm) $('token-input').value = '';
  $('account').textContent = claims.sub ?? '';
  $('who').hidden = false;
  $('tabs').hidden = false;
  showExpiry(exp);
  renderDevices();
  show('devices');
  state.watcher = watchDevices(state.config, onDevices, (e) => {
    if (e instanceof ApiError && e.status === 401) leave('Your sign-in is no longer valid. Sign in again.');
    else $('devices-status').textContent = `Could not refresh the list: ${e.message}`;
  });
  const alarmsAllowed = state.devices.some((d) => d.channels.some((c) => c.privileges.has('alarmPush')));
  $('tab-alarms').hidden = !alarmsAllowed;
  if (alarmsAllowed) state.alarms = startAlarms($('alarm-list'), $('alarms-status'), $('alarm-count'), nameOf);
}

function showExpiry(exp) {
  clearInterval(state.expiryTimer);
  const el = $('expiry');
  if (!exp) { el.textContent = ''; return; }
  const update = () => {
    const minutes = Math.round((exp - new Date()) / 60000);
    if (minutes <= 0) { leave('Your sign-in expired. Sign in with a new token.'); return; }
    el.textContent = `signed in until ${formatTime(exp)}${minutes < 120 ? ` (${minutes} min left)` : ''}`;
    el.dataset.exp = exp.toISOString();
  };
  update();
  state.expiryTimer = setInterval(update, 30000);
}

function leave(message) {
  stopViewers();
  state.watcher?.stop();
  state.watcher = null;
  state.alarms?.stop();
  state.alarms = null;
  clearInterval(state.expiryTimer);
  signOut();
  state.devices = [];
  clear($('device-list'));
  clear($('alarm-list'));
  $('who').hidden = true;
  $('tabs').hidden = true;
  const error = $('signin-error');
  error.textContent = message ?? '';
  error.hidden = !message;
  show('signin');
}

// :: Others' devices.

const signature = (devices) => JSON.stringify(devices, (k, v) => (v instanceof Set ? [...v].sort() : v));

function onDevices(devices) {
  const changed = signature(devices) !== signature(state.devices);
  state.devices = devices;
  if (changed) renderDevices();
  const c = state.current;
  if (c && !can(deviceById(c.deviceId), c.channel, c.privilege)) withdrawCurrent();
  else if (c && state.view === 'channel' && !can(deviceById(c.deviceId), c.channel, 'ptz')) $('channel-controls').querySelector('.ptz')?.remove();
}

/** The open camera is no longer shared: stop everything on it and say so. */
function withdrawCurrent() {
  const view = $(`view-${state.view}`);
  // The gateway has cut the sessions itself: close them here without telling it.
  for (const p of state.players) p.stop(false);
  state.players = [];
  stopViewers();
  for (const p of view.querySelectorAll('.player')) {
    p.dataset.state = 'withdrawn';
    const m = p.querySelector('[data-role=message]');
    m.textContent = WITHDRAWN;
    m.hidden = false;
  }
  for (const c of view.querySelectorAll('.controls > *, #playback-body > *:not(.player-slot)')) c.remove();
  if (!view.querySelector('.player')) view.append(h('p', { class: 'overlay-text', role: 'status' }, WITHDRAWN));
  state.current = null;
}

function renderDevices() {
  const list = clear($('device-list'));
  $('devices-status').textContent = state.devices.length ? '' : 'Nothing is shared with you on this gateway.';
  for (const d of state.devices) {
    const watchable = d.channels.filter((c) => c.privileges.has('liveView'));
    const facts = [
      ['Source', d.isOwner ? 'Your device' : d.source],
      ['Remark', d.remark],
      ['Expires', d.expiresAt ? formatTime(d.expiresAt) : (d.expiresAt === null && !d.isOwner ? 'never' : undefined)],
      ['Model', d.model !== d.name ? d.model : undefined],
      ['Device', d.name !== d.deviceId ? d.deviceId : undefined],
    ].filter(([, v]) => v);
    list.append(h('li', { class: 'device', dataset: { deviceId: d.deviceId } },
      h('div', { class: 'device-head' },
        h('h2', {}, d.name),
        h('span', { class: `state ${d.online ? 'online' : 'offline'}` }, d.online ? 'Online' : 'Offline')),
      h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      h('ul', { class: 'channels', 'aria-label': 'Linked cameras' }, d.channels.map((c) => h('li', { class: 'channel-row', dataset: { channel: c.channel } },
        h('span', { class: 'channel-name' }, c.name),
        h('span', { class: 'chips', 'aria-label': 'What you may do' }, [...c.privileges].map((p) => h('span', { class: 'chip', dataset: { privilege: p } }, PRIVILEGE_LABELS[p] ?? p))),
        h('span', { class: 'actions' },
          (c.privileges.has('liveView') || c.privileges.has('ptz') || c.privileges.has('twoWayAudio'))
            && h('button', { type: 'button', onclick: () => openChannel(d.deviceId, c.channel) }, c.privileges.has('liveView') ? 'Watch' : 'Open'),
          c.privileges.has('playback') && c.playback && h('button', { type: 'button', onclick: () => openPlayback(d.deviceId, c.channel) }, 'Playback'))))),
      watchable.length > 1 && h('button', { type: 'button', class: 'primary', onclick: () => openGrid(d.deviceId) }, `All ${watchable.length} cameras`)));
  }
}

// :: Live: grid and one camera.

function newPlayer(device, channel, stream, label) {
  const p = new Player({ kind: 'live', deviceId: device.deviceId, channel: channel.channel, stream }, {
    config: state.config, label, stillAllowed: stillAllowed(device.deviceId, channel.channel, 'liveView'),
    onUnauthorized: () => leave('Your sign-in is no longer valid. Sign in again.'),
  });
  state.players.push(p);
  return p;
}

function openGrid(deviceId) {
  stopViewers();
  const d = deviceById(deviceId);
  if (!d) return;
  state.current = null;
  $('live-title').textContent = d.name;
  const grid = clear($('live-grid'));
  for (const c of d.channels.filter((x) => x.privileges.has('liveView'))) {
    const p = newPlayer(d, c, c.streams.includes('sub') ? 'sub' : 'main', `${c.name}, sub stream`);
    grid.append(h('div', { class: 'tile', dataset: { channel: c.channel } }, p.element,
      h('button', { type: 'button', class: 'tile-open', onclick: () => openChannel(d.deviceId, c.channel) }, `${c.name} — full screen`)));
    p.start();
  }
  show('live');
}

function openChannel(deviceId, channelNo) {
  stopViewers();
  const d = deviceById(deviceId);
  const c = d?.channels.find((x) => x.channel === channelNo);
  if (!c) return;
  const live = c.privileges.has('liveView');
  state.current = { deviceId, channel: channelNo, privilege: live ? 'liveView' : [...c.privileges][0] };
  $('channel-title').textContent = `${d.name} · ${c.name}`;
  const slot = clear($('channel-player'));
  const controls = clear($('channel-controls'));
  if (live) {
    const p = newPlayer(d, c, c.streams.includes('main') || c.streams.length === 0 ? 'main' : 'sub', `${c.name}, main stream`);
    slot.append(p.element);
    p.start();
  }
  const report = (e) => { if (e instanceof ApiError && e.status === 401) leave('Your sign-in is no longer valid. Sign in again.'); };
  if (c.privileges.has('ptz') && c.ptz) controls.append(ptzPad(deviceId, channelNo, report));
  if (c.privileges.has('twoWayAudio') && c.backchannel) {
    const talk = talkButton(deviceId, channelNo, state.config);
    state.cleanups.push(talk.stop);
    controls.append(talk.element);
  }
  if (c.privileges.has('playback') && c.playback) {
    controls.append(h('button', { type: 'button', onclick: () => openPlayback(deviceId, channelNo) }, 'Playback'));
  }
  if (live && state.config.snapshots) {
    controls.append(h('button', { type: 'button', onclick: () => saveSnapshot(deviceId, channelNo) }, 'Save picture'));
  }
  $('channel-back').onclick = () => (d.channels.filter((x) => x.privileges.has('liveView')).length > 1 ? openGrid(deviceId) : backToDevices());
  show('channel');
}

async function saveSnapshot(deviceId, channel) {
  try {
    const r = await request(`${channelPath(deviceId, channel)}/snapshot.jpg?stream=main`);
    const url = URL.createObjectURL(await r.blob());
    const a = h('a', { href: url, download: `${deviceId}-${channel}.jpg` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch { /* the button stays; nothing to show */ }
}

function openPlayback(deviceId, channelNo) {
  stopViewers();
  const d = deviceById(deviceId);
  const c = d?.channels.find((x) => x.channel === channelNo);
  if (!c) return;
  state.current = { deviceId, channel: channelNo, privilege: 'playback' };
  $('playback-title').textContent = `Playback · ${d.name} · ${c.name}`;
  const view = playbackView($('playback-body'), {
    device: d, channel: c, config: state.config, stillAllowed: stillAllowed(deviceId, channelNo, 'playback'),
  });
  state.cleanups.push(view.stop);
  $('playback-back').onclick = () => (c.privileges.has('liveView') || c.privileges.has('ptz') ? openChannel(deviceId, channelNo) : backToDevices());
  show('playback');
}

function backToDevices() {
  stopViewers();
  state.current = null;
  show('devices');
}

// :: Start.

async function main() {
  try {
    // Next to this module (app/js/main.js → app/config.json): /app/ on the gateway, /gw/{id}/app/ on the sharing service.
    const r = await fetch(new URL('../config.json', import.meta.url), { cache: 'no-store' });
    if (r.ok) state.config = { ...state.config, ...(await r.json()) };
  } catch { /* the defaults: nothing but the API of contract §5 */ }
  setApiBase(state.config.apiBase);
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    enter($('token-input').value.trim(), true);
  });
  $('sign-out').addEventListener('click', () => leave('You are signed out.'));
  $('live-back').addEventListener('click', backToDevices);
  for (const b of $('tabs').querySelectorAll('button')) {
    b.addEventListener('click', () => {
      if (b.dataset.view === 'devices') backToDevices();
      else { stopViewers(); state.current = null; show(b.dataset.view); }
    });
  }
  window.addEventListener('hashchange', () => { if (captureFragmentToken()) { leave(); enter(getToken()); } });
  captureFragmentToken();
  const token = getToken();
  if (token) await enter(token); else show('signin');
  document.body.dataset.ready = 'true';
}

main();
