// WebRTC through WHEP (RFC 9725, contract §5.1): one POST of the offer, the answer back, DELETE to end.
// Fails fast (ICE not connected within a few seconds: UDP blocked) so that the player falls back to fMP4.
import { request, enc, authHeaders } from './api.js';

export const name = 'WebRTC';

/** The answer did not accept the viewer's audio: no talk floor. */
export class TalkRefusedError extends Error {}

const CONNECT_TIMEOUT_MS = 6000;
const GATHER_TIMEOUT_MS = 1500;

export function whepPath(target) {
  return target.kind === 'playback'
    ? `/whep/playback/${enc(target.deviceId)}/${enc(target.channel)}?${new URLSearchParams({ start: target.start, ...(target.end ? { end: target.end } : {}) })}`
    : `/whep/live/${enc(target.deviceId)}/${enc(target.channel)}/${enc(target.stream ?? 'main')}`;
}

/** Link: <turn:…>; rel="ice-server"; username="…"; credential="…" (RFC 9725 §4.6) → RTCIceServer[]. */
export function parseIceServers(links) {
  const servers = [];
  for (const link of (links ?? '').split(/,(?=\s*<)/)) {
    const m = /<([^>]+)>(.*)/.exec(link.trim());
    if (!m || !/rel="?ice-server"?/.test(m[2])) continue;
    const server = { urls: m[1] };
    const user = /username="([^"]*)"/.exec(m[2]);
    const cred = /credential="([^"]*)"/.exec(m[2]);
    if (user) server.username = user[1];
    if (cred) server.credential = cred[1];
    servers.push(server);
  }
  return servers;
}

const gathered = (pc) => new Promise((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  const t = setTimeout(resolve, GATHER_TIMEOUT_MS);
  pc.addEventListener('icegatheringstatechange', () => {
    if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
  });
});

const connected = (pc) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error('WebRTC did not connect (UDP blocked?)')), CONNECT_TIMEOUT_MS);
  const check = () => {
    if (pc.connectionState === 'connected') { clearTimeout(t); resolve(); }
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') { clearTimeout(t); reject(new Error('WebRTC failed')); }
  };
  pc.addEventListener('connectionstatechange', check);
  check();
});

/**
 * Opens a WHEP session. options.talk: a microphone MediaStreamTrack sent on a sendrecv audio transceiver
 * (push-to-talk). Resolves with { transport, ended, close() } once connected.
 */
export async function open(video, target, options = {}) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  let location = null;
  let closed = false;
  // tell = false when the gateway ended the session itself (a DELETE would only get a 404).
  // The DELETE goes first and the peer connection closes when it is answered (at most 2 s later): closed first, the
  // DTLS close_notify ends the session at the gateway and the DELETE would find nothing (404).
  const close = (tell = true) => {
    if (closed) return;
    closed = true;
    if (!location || !tell) {
      pc.close();
      return;
    }
    const timer = setTimeout(() => pc.close(), 2000);
    fetch(location, { method: 'DELETE', headers: authHeaders() }).catch(() => {}).finally(() => {
      clearTimeout(timer);
      pc.close();
    });
  };
  try {
    if (video) {
      pc.addTransceiver('video', { direction: 'recvonly' });
      const stream = new MediaStream();
      pc.addEventListener('track', (e) => {
        stream.addTrack(e.track);
        video.srcObject = stream;
        video.play().catch(() => {});
      });
    }
    const audio = options.talk
      ? pc.addTransceiver(options.talk, { direction: 'sendrecv' })
      : pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const response = await request(whepPath(target), {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    const where = response.headers.get('Location');
    location = where ? new URL(where, window.location.href).pathname : null;
    const servers = parseIceServers(response.headers.get('Link'));
    if (servers.length) pc.setConfiguration({ ...pc.getConfiguration(), iceServers: servers });
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    // A gateway that does not take the microphone answers the audio recvonly/inactive (contract §5.1).
    if (options.talk && !(audio.currentDirection ?? '').includes('send')) {
      throw new TalkRefusedError('the gateway did not take the microphone');
    }
    await connected(pc);
  } catch (e) {
    close();
    throw e;
  }
  const ended = new Promise((resolve) => {
    const check = () => {
      if (closed) resolve({ reason: 'closed' });
      else if (pc.connectionState === 'failed' || pc.connectionState === 'closed' || pc.connectionState === 'disconnected') resolve({ reason: 'error' });
    };
    pc.addEventListener('connectionstatechange', check);
    // A DTLS close_notify from the gateway (the session was cut) shows on the transport, not always on the connection.
    for (const r of pc.getReceivers()) r.transport?.addEventListener('statechange', () => {
      if (r.transport.state === 'closed' || r.transport.state === 'failed') resolve({ reason: 'error' });
    });
  });
  return { transport: name, ended, close, pc, sessionPath: () => location };
}
