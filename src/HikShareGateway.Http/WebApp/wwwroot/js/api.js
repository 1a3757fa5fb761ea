// The gateway's HTTP API (contract §5): the token only in the Authorization header.
import { getToken } from './auth.js';

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
  }
}

// Where the API is: '' on the gateway itself; the sharing service serves this app with an API base of its own
// (/gw/{gatewayId}, from app/config.json), where it relays what it can to the gateway.
let apiBase = '';

export function setApiBase(base) {
  apiBase = typeof base === 'string' && /^\/[^/]/.test(base) ? base.replace(/\/+$/, '') : '';
}

/** An API path (/api/v1/…, /whep/…) as this page must call it. */
export function apiUrl(path) {
  return path.startsWith('/') ? apiBase + path : path;
}

export function authHeaders(extra) {
  const token = getToken();
  return { ...(extra ?? {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
}

/** fetch with the token; throws ApiError for a non-2xx answer (RFC 9457 problem details when given). */
export async function request(path, options = {}) {
  const response = await fetch(apiUrl(path), { ...options, headers: authHeaders(options.headers), cache: 'no-store' });
  if (!response.ok) {
    let title = '';
    let detail = '';
    if ((response.headers.get('Content-Type') ?? '').includes('json')) {
      try {
        const problem = await response.json();
        title = problem.title ?? '';
        detail = problem.detail ?? '';
      } catch { /* not JSON after all */ }
    }
    throw new ApiError(response.status, title, detail);
  }
  return response;
}

export async function getJson(path) {
  return (await request(path)).json();
}

export async function postJson(path, body) {
  return request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export const enc = encodeURIComponent;

export function channelPath(deviceId, channel) {
  return `/api/v1/devices/${enc(deviceId)}/channels/${enc(channel)}`;
}
