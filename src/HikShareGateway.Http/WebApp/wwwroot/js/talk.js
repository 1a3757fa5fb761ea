// Push-to-talk (contract §5.1): while the button is held, the microphone goes to the camera's backchannel in a
// WHEP session whose audio is sendrecv. 409: another viewer holds the channel's talk floor.
import { h } from './dom.js';
import { ApiError } from './api.js';
import * as whep from './transport-whep.js';

export function talkButton(deviceId, channel, config) {
  const status = h('p', { class: 'muted', role: 'status', 'data-role': 'talk-status' });
  const button = h('button', { type: 'button', class: 'talk', 'aria-pressed': 'false' }, 'Hold to talk');
  let session = null;
  let mic = null;
  let pressed = false;

  const stop = () => {
    pressed = false;
    button.setAttribute('aria-pressed', 'false');
    button.classList.remove('held');
    session?.close();
    session = null;
    mic?.getTracks().forEach((t) => t.stop());
    mic = null;
  };
  const start = async () => {
    if (pressed) return;
    pressed = true;
    button.setAttribute('aria-pressed', 'true');
    button.classList.add('held');
    if (!config.whep) {
      status.textContent = 'Talking needs WebRTC, which this gateway does not offer yet.';
      stop();
      return;
    }
    status.textContent = 'Opening the microphone…';
    try {
      mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      if (!pressed) { stop(); return; }
      session = await whep.open(null, { kind: 'live', deviceId, channel, stream: 'main' }, { talk: mic.getAudioTracks()[0] });
      if (!pressed) { stop(); return; }
      status.textContent = 'Talking…';
      session.ended.then(() => { if (pressed) { status.textContent = 'The talk session ended.'; stop(); } });
    } catch (e) {
      status.textContent = e instanceof ApiError && e.status === 409 ? 'Someone else is talking on this camera.'
        : e instanceof ApiError && e.status === 422 ? `This camera cannot take your microphone: ${e.message}`
        : e instanceof whep.TalkRefusedError ? 'The gateway did not take the microphone.'
        : e instanceof ApiError && e.status === 403 ? 'You may not talk on this camera.'
          : e?.name === 'NotAllowedError' ? 'The microphone was not allowed.'
            : `Could not talk: ${e?.message ?? e}`;
      stop();
    }
  };
  button.addEventListener('pointerdown', (e) => { e.preventDefault(); button.setPointerCapture?.(e.pointerId); start(); });
  button.addEventListener('pointerup', () => { if (session || pressed) { stop(); status.textContent = ''; } });
  button.addEventListener('pointercancel', stop);
  button.addEventListener('keydown', (e) => { if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) { e.preventDefault(); start(); } });
  button.addEventListener('keyup', (e) => { if (e.key === ' ' || e.key === 'Enter') { stop(); status.textContent = ''; } });
  button.addEventListener('blur', stop);
  return { element: h('section', { class: 'talk-box', 'aria-label': 'Two-way audio' }, h('h2', {}, 'Two-way audio'), button, status), stop };
}
