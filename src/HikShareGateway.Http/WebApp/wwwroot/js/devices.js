// "Others' devices": GET /api/v1/devices, shown as Hik-Connect shows a share, and kept current: from the
// gateway's device change stream where this build has one, else by polling.
import { getJson } from './api.js';
import { openEventStream } from './sse.js';

export const PRIVILEGE_LABELS = {
  liveView: 'Live view',
  playback: 'Playback',
  alarmPush: 'Alarms',
  twoWayAudio: 'Two-way audio',
  ptz: 'PTZ',
};

/** What the app reads of a device; fields a build does not send yet are left undefined. */
export function normaliseDevice(d) {
  const isOwner = d.owner === true || d.isOwner === true;
  const source = typeof d.owner === 'string' ? d.owner : (d.ownerAccount ?? d.sharedBy ?? d.source);
  return {
    deviceId: d.deviceId,
    name: d.name ?? d.deviceName ?? ([d.manufacturer, d.model].filter(Boolean).join(' ') || d.deviceId),
    model: [d.manufacturer, d.model].filter(Boolean).join(' '),
    isOwner,
    source: isOwner ? 'You' : source,
    remark: d.remark ?? d.share?.remark,
    // undefined: this gateway build does not say; null: the share never expires.
    expiresAt: 'expiresAt' in d ? d.expiresAt : d.share?.expiresAt,
    online: d.online !== false,
    channels: (d.channels ?? []).map((c) => ({
      channel: c.channel,
      name: c.name || `Camera ${c.channel}`,
      streams: c.streams ?? [],
      ptz: !!c.ptz,
      backchannel: !!c.backchannel,
      playback: c.playback !== false,
      privileges: new Set(c.privileges ?? []),
    })),
  };
}

export async function loadDevices() {
  const list = await getJson('/api/v1/devices');
  return (list.devices ?? []).map(normaliseDevice);
}

/** May the caller do <privilege> on <channel> of <device>? */
export function can(device, channel, privilege) {
  const c = device?.channels.find((x) => x.channel === channel);
  return !!c && c.privileges.has(privilege);
}

/**
 * Calls onChange(devices) whenever the list may have changed: on every event of the change stream
 * (config.deviceChanges), else every pollMs. refresh() asks at once (a cut stream uses it to learn why).
 */
export function watchDevices(config, onChange, onError, pollMs = config.deviceChanges ? 30000 : 5000) {
  let stopped = false;
  let timer = 0;
  let inFlight = null;
  const refresh = () => {
    if (stopped) return Promise.resolve();
    inFlight ??= loadDevices().then(onChange, onError).finally(() => { inFlight = null; });
    return inFlight;
  };
  let stopStream = null;
  if (config.deviceChanges) {
    // Each event carries the caller's whole list (the JSON of GET /api/v1/devices): applied as it comes, so a
    // deleted share takes its device away at once.
    stopStream = openEventStream(config.deviceChanges, {
      onEvent: (e) => {
        try {
          const list = JSON.parse(e.data);
          if (Array.isArray(list.devices)) { onChange(list.devices.map(normaliseDevice)); return; }
        } catch { /* not a list: ask */ }
        refresh();
      },
      onStatus: () => {},
    });
  }
  const tick = async () => {
    await refresh();
    if (!stopped) timer = setTimeout(tick, pollMs);
  };
  tick();
  return {
    refresh,
    stop() {
      stopped = true;
      clearTimeout(timer);
      stopStream?.();
    },
  };
}
