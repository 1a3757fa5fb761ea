// Playback: a day timeline drawn from GET …/recordings, click (or arrow keys + Enter) to play from there,
// pause, speed, and download of a span as MP4 (contract §5.2: playback .mp4 with an end is a download).
// Over WebRTC, pause and speed are the session's (POST /whep/sessions/{id}/seek, contract §5.1): pausing the <video>
// alone would leave the recording running at the gateway, and a resume would jump ahead by the time paused.
import { h, clear } from './dom.js';
import { channelPath, getJson, postJson, request } from './api.js';
import { Player } from './player.js';
import { playbackPath } from './transport-fmp4.js';

const DAY_MS = 24 * 3600 * 1000;

/** 20261125T100000Z, the form of playback URLs (contract §5). */
export function toBasic(date) {
  return date.toISOString().replace(/\.\d{3}/, '').replace(/[-:]/g, '');
}

/** Extended ISO 8601, or the basic form. */
export function parseTime(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  return m ? new Date(Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : new Date(text);
}

const pad2 = (n) => String(n).padStart(2, '0');
const clock = (d) => `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
const localDay = (d) => `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;

export function playbackView(container, { device, channel, config, stillAllowed, onError }) {
  clear(container);
  let dayStart = new Date(new Date().setHours(0, 0, 0, 0));
  let spans = [];
  let cursor = null;
  let player = null;
  let loads = 0; // the newest load of the timeline; an older one that answers late is dropped

  const day = h('input', { type: 'date', value: localDay(dayStart), 'aria-label': 'Day' });
  const status = h('p', { class: 'muted', role: 'status', 'data-role': 'playback-status' });
  const track = h('div', { class: 'timeline-track' });
  const marker = h('div', { class: 'timeline-cursor', hidden: true });
  const timeline = h('div', {
    class: 'timeline', role: 'slider', tabindex: '0', 'aria-label': 'Time of day (arrow keys move, Enter plays)',
    'aria-valuemin': '0', 'aria-valuemax': '1439', 'aria-valuenow': '0',
  }, track, marker, h('div', { class: 'timeline-hours', 'aria-hidden': 'true' }, [0, 6, 12, 18, 24].map((x) => h('span', {}, `${pad2(x)}:00`))));
  const slot = h('div', { class: 'player-slot' });
  const pause = h('button', { type: 'button', disabled: true }, 'Pause');
  const speed = h('select', { 'aria-label': 'Speed' }, [0.5, 1, 2, 4].map((s) => h('option', { value: s, selected: s === 1 }, `${s}×`)));
  const from = h('input', { type: 'time', step: '1', 'aria-label': 'Download from' });
  const to = h('input', { type: 'time', step: '1', 'aria-label': 'Download to' });
  const download = h('button', { type: 'button', disabled: !config.fmp4Playback }, 'Download');

  const setCursor = (t) => {
    cursor = new Date(Math.min(Math.max(t.getTime(), dayStart.getTime()), dayStart.getTime() + DAY_MS - 1000));
    const minute = Math.floor((cursor - dayStart) / 60000);
    timeline.setAttribute('aria-valuenow', String(minute));
    timeline.setAttribute('aria-valuetext', clock(cursor));
    marker.hidden = false;
    marker.style.left = `${((cursor - dayStart) / DAY_MS) * 100}%`;
  };

  const play = (t) => {
    const span = spans.find((s) => s.end > t) ?? null;
    if (!span) { status.textContent = 'Nothing recorded after that time.'; return; }
    const start = span.start > t ? span.start : t;
    setCursor(start);
    player?.stop();
    const p = new Player({ kind: 'playback', deviceId: device.deviceId, channel: channel.channel, start: toBasic(start), end: toBasic(span.end) },
      { config, stillAllowed, label: `Recording of ${channel.name}` });
    player = p;
    clear(slot).append(p.element);
    p.start().then(() => {
      if (player !== p) return;
      // fMP4 plays at the <video>'s rate; a WebRTC session starts at 1× (its control sets the pace at the gateway).
      if (control()) speed.value = '1'; else p.video.playbackRate = Number(speed.value);
    });
    pause.disabled = false;
    pause.textContent = 'Pause';
    status.textContent = `Playing from ${clock(start)}`;
    from.value = clock(start);
    to.value = clock(new Date(Math.min(span.end.getTime(), start.getTime() + 5 * 60000)));
  };

  const load = async () => {
    const load = ++loads;
    const end = new Date(dayStart.getTime() + DAY_MS);
    status.textContent = 'Loading recordings…';
    clear(track);
    spans = [];
    try {
      const r = await getJson(`${channelPath(device.deviceId, channel.channel)}/recordings?from=${toBasic(dayStart)}&to=${toBasic(end)}`);
      if (load !== loads) return;
      spans = (r.recordings ?? []).map((x) => ({ start: parseTime(x.start), end: parseTime(x.end) }))
        .filter((x) => !Number.isNaN(x.start.getTime()) && x.end > x.start).sort((a, b) => a.start - b.start);
      for (const s of spans) {
        const left = Math.max(0, (s.start - dayStart) / DAY_MS);
        const right = Math.min(1, (s.end - dayStart) / DAY_MS);
        // CSSOM, not a style attribute: the CSP allows no inline style.
        const bar = h('span', { class: 'timeline-span', title: `${clock(s.start)}–${clock(s.end)}` });
        bar.style.left = `${left * 100}%`;
        bar.style.width = `${Math.max(0.2, (right - left) * 100)}%`;
        track.append(bar);
      }
      status.textContent = spans.length ? `${spans.length} recording(s) on this day. Click the timeline to play.` : 'No recordings on this day.';
    } catch (e) {
      if (load !== loads) return;
      status.textContent = e.status === 409 ? 'This camera cannot search its recordings.' : `Could not load the recordings: ${e.message}`;
    }
  };

  timeline.addEventListener('click', (e) => {
    const rect = timeline.getBoundingClientRect();
    play(new Date(dayStart.getTime() + ((e.clientX - rect.left) / rect.width) * DAY_MS));
  });
  timeline.addEventListener('keydown', (e) => {
    const step = (e.shiftKey ? 10 : 1) * 60000;
    const now = cursor ?? spans[0]?.start ?? dayStart;
    if (e.key === 'ArrowRight') setCursor(new Date(now.getTime() + step));
    else if (e.key === 'ArrowLeft') setCursor(new Date(now.getTime() - step));
    else if (e.key === 'Enter' || e.key === ' ') play(now);
    else return;
    e.preventDefault();
  });
  day.addEventListener('change', () => {
    const [y, m, d] = day.value.split('-').map(Number);
    if (!y) return;
    dayStart = new Date(y, m - 1, d);
    load();
  });
  /** The WHEP session's control path while the picture comes over WebRTC, else null (fMP4: the <video> is the player). */
  const control = () => (player?.session?.transport === 'WebRTC' && player.session.sessionPath?.()
    ? `${player.session.sessionPath()}/seek` : null);
  const at = (position) => (position ? clock(parseTime(position)) : '');

  pause.addEventListener('click', async () => {
    const v = player?.video;
    if (!v) return;
    const resume = v.paused;
    pause.disabled = true;
    try {
      const path = control();
      const answer = path ? await (await postJson(path, { pause: !resume })).json() : null;
      if (resume) {
        v.play().catch(() => {});
        status.textContent = answer?.position ? `Playing from ${at(answer.position)}` : status.textContent;
      } else {
        v.pause();
        if (answer?.position) status.textContent = `Paused at ${at(answer.position)}`;
      }
      pause.textContent = resume ? 'Pause' : 'Resume';
    } catch (e) {
      status.textContent = `Could not ${resume ? 'resume' : 'pause'}: ${e.message}`;
    } finally {
      pause.disabled = false;
    }
  });
  speed.addEventListener('change', async () => {
    if (!player) return;
    const rate = Number(speed.value);
    const path = control();
    if (!path) { player.video.playbackRate = rate; return; }
    // Over WebRTC the gateway sets the pace (RTSP Scale at the recorder); the <video> plays what comes.
    try {
      await postJson(path, { scale: rate });
      status.textContent = `Playing at ${rate}×`;
    } catch (e) {
      speed.value = '1';
      status.textContent = e.status === 501 ? 'This gateway plays recordings at normal speed only.' : `Could not change the speed: ${e.message}`;
    }
  });
  download.addEventListener('click', async () => {
    const at = (value) => {
      const [hh, mm, ss] = value.split(':').map(Number);
      return new Date(dayStart.getFullYear(), dayStart.getMonth(), dayStart.getDate(), hh, mm, ss || 0);
    };
    if (!from.value || !to.value || at(to.value) <= at(from.value)) { status.textContent = 'Choose a span to download (from before to).'; return; }
    status.textContent = 'Downloading…';
    try {
      const response = await request(playbackPath(device.deviceId, channel.channel, toBasic(at(from.value)), toBasic(at(to.value))));
      const url = URL.createObjectURL(await response.blob());
      const a = h('a', { href: url, download: `${device.deviceId}-${channel.channel}-${toBasic(at(from.value))}.mp4` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      status.textContent = 'Downloaded.';
    } catch (e) {
      status.textContent = `Download failed: ${e.message}`;
      onError?.(e);
    }
  });

  container.append(
    h('div', { class: 'playback-bar' }, day, pause, h('label', {}, 'Speed ', speed)),
    timeline, status, slot,
    h('div', { class: 'download' }, h('label', {}, 'From ', from), h('label', {}, 'to ', to), download));
  load();
  return { stop: () => player?.stop() };
}
