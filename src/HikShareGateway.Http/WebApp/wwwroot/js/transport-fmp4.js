// fMP4 over HTTP (contract §5.2) into Media Source Extensions. fetch carries the token in the Authorization
// header, so it never appears in a URL; the Content-Type names the codecs for addSourceBuffer.
import { request, enc } from './api.js';

export const name = 'fMP4';

export class UnsupportedMediaError extends Error {}

export function livePath(deviceId, channel, stream) {
  return `/api/v1/live/${enc(deviceId)}/${enc(channel)}/${enc(stream)}.mp4`;
}

export function playbackPath(deviceId, channel, start, end) {
  const q = new URLSearchParams({ start });
  if (end) q.set('end', end);
  return `/api/v1/playback/${enc(deviceId)}/${enc(channel)}.mp4?${q}`;
}

// Without H.265 in MSE (Debian's Chromium, Firefox) ask for H.264: the gateway then transcodes an H.265 camera and
// serves an H.264 one as it is.
export const needsH264 = () => !MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L93.B0"');

const appendTo = (buffer, chunk) => new Promise((resolve, reject) => {
  const done = () => { buffer.removeEventListener('error', failed); resolve(); };
  const failed = () => { buffer.removeEventListener('updateend', done); reject(new Error('the browser could not decode the stream')); };
  buffer.addEventListener('updateend', done, { once: true });
  buffer.addEventListener('error', failed, { once: true });
  buffer.appendBuffer(chunk);
});

/**
 * Opens the stream into <video>. Resolves once the first bytes are appended, with
 * { transport, ended: Promise<{reason, error}>, close() }. live: keep near the live edge and trim what was played.
 */
export async function open(video, target) {
  if (!('MediaSource' in window)) throw new UnsupportedMediaError('this browser has no Media Source Extensions');
  const abort = new AbortController();
  const path = target.kind === 'playback'
    ? playbackPath(target.deviceId, target.channel, target.start, target.end)
    : livePath(target.deviceId, target.channel, target.stream) + (needsH264() ? '?codec=h264' : '');
  const response = await request(path, { signal: abort.signal });
  const mime = response.headers.get('Content-Type') ?? '';
  if (!MediaSource.isTypeSupported(mime)) {
    abort.abort();
    throw new UnsupportedMediaError(mime.includes('hvc1') || mime.includes('hev1')
      ? 'this camera sends H.265, which this browser cannot play'
      : `this browser cannot play ${mime || 'the stream'}`);
  }
  const source = new MediaSource();
  const url = URL.createObjectURL(source);
  video.srcObject = null;
  video.src = url;
  await new Promise((resolve) => source.addEventListener('sourceopen', resolve, { once: true }));
  const buffer = source.addSourceBuffer(mime);
  const reader = response.body.getReader();
  const live = target.kind !== 'playback';
  let closed = false;
  let first = true;
  let resolveFirst;
  let rejectFirst;
  const firstAppend = new Promise((ok, fail) => { resolveFirst = ok; rejectFirst = fail; });

  const pump = async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await appendTo(buffer, value);
        if (first && buffer.buffered.length) {
          first = false;
          video.currentTime = buffer.buffered.start(0);
          video.play().catch(() => {});
          resolveFirst();
        }
        if (live && buffer.buffered.length && !buffer.updating) {
          const end = buffer.buffered.end(buffer.buffered.length - 1);
          // Stay within a second of the live edge (a tab in the background falls behind).
          if (end - video.currentTime > 1.5) video.currentTime = end - 0.3;
          const start = buffer.buffered.start(0);
          if (video.currentTime - start > 20) {
            await new Promise((ok) => { buffer.addEventListener('updateend', ok, { once: true }); buffer.remove(start, video.currentTime - 10); });
          }
        }
      }
      if (source.readyState === 'open' && !buffer.updating) source.endOfStream();
      return { reason: 'ended' };
    } catch (error) {
      return { reason: closed ? 'closed' : 'error', error };
    } finally {
      if (first) rejectFirst(new Error('the stream ended before any picture'));
    }
  };
  const ended = pump();
  const close = () => {
    if (closed) return;
    closed = true;
    abort.abort();
    URL.revokeObjectURL(url);
    video.removeAttribute('src');
    video.load();
  };
  try {
    await firstAppend;
  } catch (e) {
    close();
    throw e;
  }
  return { transport: name, ended, close };
}
