// One picture: tries the transports in order (WebRTC first, fMP4 when it fails), shows which one plays and at
// what resolution, and says why when the picture stops: a stream cut because the share went shows
// "access to this camera was withdrawn", never a spinner.
import { h } from './dom.js';
import { ApiError } from './api.js';
import * as whep from './transport-whep.js';
import * as fmp4 from './transport-fmp4.js';

export const WITHDRAWN = 'Access to this camera was withdrawn';
const STALL_MS = 600;
const RETRY_MS = 2000;

/** The transports this gateway build offers for live or playback, WebRTC first (config from /app/config.json). */
export function transportsFor(config, kind) {
  const playback = kind === 'playback';
  const list = [];
  if ((playback ? config.whepPlayback : config.whep) && 'RTCPeerConnection' in window) list.push(whep);
  if (playback ? config.fmp4Playback : config.fmp4) list.push(fmp4);
  return list;
}

export class Player {
  /**
   * target: { kind: 'live'|'playback', deviceId, channel, stream, start, end }.
   * stillAllowed(): Promise<boolean>, asks the gateway whether the caller may still watch (a fresh device list).
   */
  constructor(target, { config, stillAllowed, label, onUnauthorized, controls = false }) {
    this.target = target;
    this.config = config;
    this.stillAllowed = stillAllowed;
    this.onUnauthorized = onUnauthorized;
    this.session = null;
    this.stopped = false;
    this.video = h('video', { muted: true, playsinline: true, autoplay: true, controls: controls || undefined, 'aria-label': label ?? 'Camera picture' });
    this.video.muted = true;
    this.badge = h('span', { class: 'badge', 'data-role': 'transport' });
    this.message = h('p', { class: 'overlay', role: 'status', 'data-role': 'message' }, 'Connecting…');
    this.element = h('figure', { class: 'player', dataset: { state: 'connecting' } }, this.video, this.message, this.badge);
    this.video.addEventListener('resize', () => this.showBadge());
    this.video.addEventListener('playing', () => { this.setState('playing', ''); this.showBadge(); });
  }

  setState(state, text) {
    this.element.dataset.state = state;
    this.message.textContent = text;
    this.message.hidden = !text;
  }

  showBadge() {
    const size = this.video.videoWidth ? ` · ${this.video.videoWidth}×${this.video.videoHeight}` : '';
    this.badge.textContent = this.session ? `${this.session.transport}${size}` : '';
    this.element.dataset.transport = this.session?.transport ?? '';
  }

  async start() {
    this.stopped = false;
    const transports = transportsFor(this.config, this.target.kind);
    if (transports.length === 0) {
      this.setState('unavailable', `${this.target.kind === 'playback' ? 'Playback' : 'Live view'} in the browser is not available on this gateway yet: use the RTSP address.`);
      return;
    }
    let lastError = null;
    for (const transport of transports) {
      if (this.stopped) return;
      this.setState('connecting', `Connecting (${transport.name})…`);
      try {
        this.session = await transport.open(this.video, this.target);
      } catch (e) {
        lastError = e;
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) break;
        continue;
      }
      if (this.stopped) { this.session.close(); return; }
      this.showBadge();
      this.watch(this.session);
      return;
    }
    await this.explain(lastError);
  }

  /** Why nothing plays, from the last error (and, for a refusal, from a fresh look at the grants). */
  async explain(error) {
    if (error instanceof ApiError && error.status === 401) {
      this.setState('refused', 'Your sign-in is no longer valid: sign in again.');
      this.onUnauthorized?.();
    } else if (error instanceof ApiError && error.status === 403) {
      this.setState('withdrawn', WITHDRAWN);
    } else if (error instanceof ApiError && error.status === 503) {
      this.setState('error', 'The gateway is at capacity: try again later.');
      this.retryLater();
    } else if (error instanceof fmp4.UnsupportedMediaError) {
      this.setState('error', `Cannot play here: ${error.message}.`);
    } else {
      this.setState('error', `No picture: ${error?.message ?? 'the camera did not answer'}. Retrying…`);
      this.retryLater();
    }
  }

  retryLater() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => { if (!this.stopped) this.start(); }, RETRY_MS);
  }

  /** Ends of the stream and stalls (no new frame for STALL_MS) both lead to one question: may I still watch? */
  watch(session) {
    let last = -1;
    let since = performance.now();
    let checking = false;
    const onStop = async (why) => {
      if (checking || this.stopped || this.session !== session) return;
      checking = true;
      let allowed = true;
      try {
        allowed = await this.stillAllowed();
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) allowed = false;
      }
      if (this.stopped || this.session !== session) return;
      if (!allowed) {
        this.stop(false);
        this.showBadge();
        this.setState('withdrawn', WITHDRAWN);
        return;
      }
      checking = false;
      if (why === 'ended') {
        clearInterval(this.stallTimer);
        session.close(false);
        this.session = null;
        if (this.target.kind === 'playback') { this.setState('ended', 'End of the recording.'); return; }
        const why = this.lastEnd?.error?.message;
        this.setState('error', `The stream stopped${why ? ` (${why})` : ''}. Reconnecting…`);
        this.retryLater();
      }
    };
    session.ended.then((end) => { this.lastEnd = end; onStop('ended'); });
    clearInterval(this.stallTimer);
    this.stallTimer = setInterval(() => {
      if (this.video.paused && this.target.kind === 'playback') { since = performance.now(); return; }
      const t = this.video.currentTime;
      if (t !== last) { last = t; since = performance.now(); return; }
      if (performance.now() - since > STALL_MS && this.element.dataset.state === 'playing') {
        since = performance.now();
        onStop('stall');
      }
    }, 100);
  }

  stop(tell = true) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.stallTimer);
    this.session?.close(tell);
    this.session = null;
    // Nothing keeps feeding or showing the last picture.
    this.video.srcObject = null;
    if (this.video.hasAttribute('src')) {
      this.video.removeAttribute('src');
      this.video.load();
    }
  }
}
