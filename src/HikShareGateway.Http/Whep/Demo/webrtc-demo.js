// The demo viewer (contract §5.1): one WHEP session. Kept outside the page so that the page's CSP needs no inline script.
// window.whep exposes what the gateway's tests read: status, location, connection state, first-frame time.
'use strict';
(async () => {
  const status = document.getElementById('status');
  const video = document.getElementById('video');
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  const path = params.get('path') || '/live/demo-nvr-1/1/main';
  const whep = window.whep = { status: 0, location: null, state: 'new', firstFrameMs: null, error: null };
  const say = text => { status.textContent = text; };
  if (!token) { whep.error = 'no token'; say('Open this page with #token=<viewer token> (the demo prints the address).'); return; }

  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const media = new MediaStream();
  video.srcObject = media;
  pc.ontrack = e => media.addTrack(e.track);
  pc.onconnectionstatechange = () => { whep.state = pc.connectionState; say('connection: ' + pc.connectionState); };

  await pc.setLocalDescription(await pc.createOffer());
  // The gateway is ICE-lite and answers with all its candidates: the offer need not wait for ours.
  const postedAt = performance.now();
  let response;
  try {
    response = await fetch('/whep' + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + token },
      body: pc.localDescription.sdp,
    });
  } catch (e) {
    whep.error = String(e); say('WHEP request failed: ' + e); return;
  }
  whep.status = response.status;
  if (response.status !== 201) {
    let detail = '';
    try { detail = (await response.json()).detail || ''; } catch (e) { /* not problem+json */ }
    whep.error = detail; say('refused: ' + response.status + ' ' + detail); return;
  }
  whep.location = response.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
  say('answer received, connecting…');
  if ('requestVideoFrameCallback' in video) {
    video.requestVideoFrameCallback(() => { whep.firstFrameMs = performance.now() - postedAt; });
  }
  addEventListener('pagehide', () => {
    if (whep.location) fetch(whep.location, { method: 'DELETE', headers: { 'Authorization': 'Bearer ' + token }, keepalive: true });
  });
})();
