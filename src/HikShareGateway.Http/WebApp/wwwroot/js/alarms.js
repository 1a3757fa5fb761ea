// The caller's alarms, live (GET /api/v1/events, SSE), newest first, with the alarm's snapshot when the
// gateway keeps one (contract §7: fetched with the Authorization header, shown from a blob: URL).
import { h, formatTime } from './dom.js';
import { request } from './api.js';
import { openEventStream } from './sse.js';

const MAX = 200;
const KIND_LABELS = {
  motion: 'Motion', lineCrossing: 'Line crossing', intrusion: 'Intrusion', tamper: 'Tampering',
  videoLoss: 'Video loss', alarmInput: 'Alarm input',
};

export function startAlarms(list, status, counter, nameOf) {
  let unseen = 0;
  const add = (alarm) => {
    const img = h('img', { alt: '', class: 'snapshot', hidden: true });
    const item = h('li', { class: `alarm alarm-${alarm.state}`, dataset: { kind: alarm.kind, device: alarm.deviceId } },
      h('div', { class: 'alarm-text' },
        h('strong', {}, `${KIND_LABELS[alarm.kind] ?? alarm.kind} ${alarm.state === 'stop' ? 'ended' : ''}`.trim()),
        h('span', {}, nameOf(alarm.deviceId, alarm.channel)),
        h('time', { datetime: alarm.at }, formatTime(alarm.at))),
      img);
    list.prepend(item);
    while (list.children.length > MAX) list.lastElementChild.remove();
    if (typeof alarm.snapshot === 'string' && alarm.snapshot.startsWith('/')) {
      request(alarm.snapshot).then((r) => r.blob()).then((blob) => {
        img.src = URL.createObjectURL(blob);
        img.alt = `Snapshot of the ${alarm.kind} alarm`;
        img.hidden = false;
      }, () => {});
    }
    if (document.getElementById('view-alarms').hidden) {
      unseen += 1;
      counter.textContent = String(unseen);
      counter.hidden = false;
    }
  };
  const stop = openEventStream('/api/v1/events', {
    onOpen: () => { status.textContent = 'Connected: new alarms appear here.'; },
    onError: () => { status.textContent = 'Alarm stream interrupted, reconnecting…'; },
    onStatus: (code) => { status.textContent = code === 403 ? 'You receive no alarms.' : `Alarm stream refused (${code}).`; },
    onEvent: (e) => {
      try {
        const alarm = JSON.parse(e.data);
        if (alarm && typeof alarm.deviceId === 'string') add(alarm);
      } catch { /* not an alarm */ }
    },
  });
  return {
    stop,
    seen() { unseen = 0; counter.hidden = true; },
  };
}
