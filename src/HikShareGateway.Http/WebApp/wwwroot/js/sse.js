// Server-Sent Events over fetch (WHATWG HTML §9.2 parsing), because EventSource cannot send an Authorization
// header and the token must not go into a URL.
import { apiUrl, authHeaders } from './api.js';

/**
 * Reads an event stream until aborted; calls onEvent({event, data, id}) per event and onOpen/onError, and
 * reconnects after the server's retry time. Returns a function that stops it.
 */
export function openEventStream(path, { onEvent, onOpen, onError, onStatus }) {
  const abort = new AbortController();
  let retry = 5000;
  let lastId = '';

  const run = async () => {
    while (!abort.signal.aborted) {
      try {
        const headers = authHeaders({ Accept: 'text/event-stream' });
        if (lastId) headers['Last-Event-ID'] = lastId;
        const response = await fetch(apiUrl(path), { headers, signal: abort.signal, cache: 'no-store' });
        if (!response.ok) {
          onStatus?.(response.status);
          if (response.status === 401 || response.status === 403) return;
          throw new Error(`HTTP ${response.status}`);
        }
        onOpen?.();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        let event = { event: 'message', data: [], id: '' };
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer += value;
          let nl;
          while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
            if (line === '') {
              if (event.data.length) {
                if (event.id) lastId = event.id;
                onEvent({ event: event.event, data: event.data.join('\n'), id: event.id });
              }
              event = { event: 'message', data: [], id: '' };
              continue;
            }
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let v = colon < 0 ? '' : line.slice(colon + 1);
            if (v.startsWith(' ')) v = v.slice(1);
            if (field === 'data') event.data.push(v);
            else if (field === 'event') event.event = v;
            else if (field === 'id') event.id = v;
            else if (field === 'retry' && /^\d+$/.test(v)) retry = Number(v);
          }
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        onError?.(e);
      }
      if (abort.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, retry));
    }
  };
  run();
  return () => abort.abort();
}
