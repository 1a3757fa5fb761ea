// The viewer token: taken from the URL fragment (#token=…, the cloud portal's link) or pasted, kept in
// sessionStorage only, and sent only in Authorization headers. The fragment never reaches the server, and it
// is removed from the address bar and history at once (history.replaceState) so that it is not bookmarked.
const KEY = 'hikshare.token';

/** Moves a token from the fragment to sessionStorage; returns true when one was there. */
export function captureFragmentToken() {
  const hash = location.hash;
  if (!hash.startsWith('#')) return false;
  const params = new URLSearchParams(hash.slice(1));
  const token = params.get('token');
  if (token === null) return false;
  history.replaceState(null, '', location.pathname + location.search);
  if (token) setToken(token);
  return !!token;
}

export function setToken(token) {
  sessionStorage.setItem(KEY, token.trim());
}

export function getToken() {
  return sessionStorage.getItem(KEY);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/**
 * The claims of a compact JWS, for display only (the gateway verifies the signature on every call).
 * Returns null for anything that is not three base64url parts with a JSON payload.
 */
export function decodeClaims(token) {
  const parts = (token ?? '').trim().split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === 'object' && claims !== null ? claims : null;
  } catch {
    return null;
  }
}

/** The token's expiry as a Date, or null. */
export function expiryOf(claims) {
  return claims && typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null;
}
