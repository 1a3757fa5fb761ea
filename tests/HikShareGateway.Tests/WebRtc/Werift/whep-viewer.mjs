// A WHEP viewer built on werift (a TypeScript WebRTC stack, independent of the gateway's own): POSTs a recvonly
// H.264 offer, brings ICE + DTLS-SRTP up, counts the RTP it decrypts and the H.264 NAL unit types in it (RFC 6184:
// single NAL, STAP-A, FU-A), and says how the session ended.
//
//   node whep-viewer.mjs --url http://127.0.0.1:PORT/whep/live/dev/1/main --token TOKEN [--seconds N] [--until-closed]
//        [--pli-at-ms N]   (sends one RTCP PLI N ms after the first RTP, prints "PLI <ms>", then "IDR-AFTER-PLI <ms>")
//
// stdout, one line each: "OFFER <ms to write the offer>", "CREATED <Location>", "CONNECTED <ms from the POST>", "FIRST-RTP <ms>", "FIRST-IDR <ms>", "RTP <count>" every 100 packets,
// "ENDED <reason>" (dtls-closed | connection-<state> | rtp-stopped | time-up), then "SUMMARY <json>". Exit code 0 when
// the summary was printed, 2 on a refused POST (the status and body are printed), 1 on any other failure.
import { RTCPeerConnection, RTCRtpCodecParameters } from "werift";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const url = arg("url");
const token = arg("token");
const seconds = Number(arg("seconds", "10"));
const untilClosed = process.argv.includes("--until-closed");
// No RTP for this long after RTP flowed counts as the session having stopped (25 fps video: 40 ms between frames).
const rtpSilenceMs = Number(arg("silence-ms", "1500"));
const pliAtMs = Number(arg("pli-at-ms", "0"));
if (!url || !token) {
  console.error("usage: node whep-viewer.mjs --url URL --token TOKEN [--seconds N] [--until-closed]");
  process.exit(1);
}

// timestampsBack: new packets (by sequence number) with RTP timestamps lower than the highest seen (RFC 3550 §5.1: a sender's must not go back).
const stats = { packets: 0, bytes: 0, accessUnits: 0, idr: 0, nalTypes: {}, payloadTypes: {}, ssrcs: [], seqGaps: 0, timestampsBack: 0, packetsAfterPli: 0 };
let pliSentAt = 0;
let idrAfterPli = false;
let highestTs = -1;
let highestSeq = -1;
let started = performance.now(); // reset to the POST: the times printed are from the WHEP POST
const since = () => Math.round(performance.now() - started);
let lastRtpAt = 0;
let lastSeq = -1;
let ended = null;
let finish;
const done = new Promise((resolve) => (finish = resolve));

function end(reason) {
  if (ended) return;
  ended = reason;
  console.log(`ENDED ${reason}`);
  finish();
}

function countNal(type, startOfNal) {
  if (!startOfNal) return;
  stats.nalTypes[type] = (stats.nalTypes[type] ?? 0) + 1;
  if (type === 5) {
    if (stats.idr === 0) console.log(`FIRST-IDR ${since()}`);
    if (pliSentAt > 0 && !idrAfterPli) {
      idrAfterPli = true;
      console.log(`IDR-AFTER-PLI ${since()}`);
    }
    stats.idr++;
  }
}

function onRtp(rtp) {
  const payload = rtp.payload;
  if (stats.packets === 0) console.log(`FIRST-RTP ${since()}`);
  stats.packets++;
  if (stats.packets % 100 === 0) console.log(`RTP ${stats.packets}`);
  stats.bytes += payload.length;
  lastRtpAt = performance.now();
  const pt = rtp.header.payloadType;
  stats.payloadTypes[pt] = (stats.payloadTypes[pt] ?? 0) + 1;
  if (!stats.ssrcs.includes(rtp.header.ssrc)) stats.ssrcs.push(rtp.header.ssrc);
  const seq = rtp.header.sequenceNumber;
  if (lastSeq >= 0 && seq !== ((lastSeq + 1) & 0xffff)) stats.seqGaps++;
  lastSeq = seq;
  const ts = rtp.header.timestamp;
  // Only packets newer than any seen (a retransmission or a late packet carries its old timestamp); modulo 2^16 / 2^32.
  const newer = highestSeq < 0 || (((seq - highestSeq) & 0xffff) !== 0 && ((seq - highestSeq) & 0xffff) < 0x8000);
  if (newer) {
    highestSeq = seq;
    if (highestTs >= 0 && ((ts - highestTs) >>> 0) > 0x80000000) {
      stats.timestampsBack++;
      if (stats.timestampsBack <= 3) console.log(`TS-BACK seq ${seq} ts ${ts} after ${highestTs}`);
    } else highestTs = ts;
  }
  if (pliSentAt > 0) stats.packetsAfterPli++;
  if (pliAtMs > 0 && pliSentAt === 0 && stats.packets === 1) {
    const ssrc = rtp.header.ssrc;
    setTimeout(() => {
      pliSentAt = performance.now();
      console.log(`PLI ${since()}`);
      transceiver.receiver.sendRtcpPLI(ssrc).catch((e) => console.error(`PLI failed: ${e}`));
    }, pliAtMs);
  }
  if (rtp.header.marker) stats.accessUnits++;
  if (payload.length < 1) return;
  const type = payload[0] & 0x1f;
  if (type === 24) {
    // STAP-A: 16-bit size before each NAL unit.
    for (let i = 1; i + 2 < payload.length; ) {
      const size = (payload[i] << 8) | payload[i + 1];
      if (size === 0 || i + 2 + size > payload.length) break;
      countNal(payload[i + 2] & 0x1f, true);
      i += 2 + size;
    }
  } else if (type === 28 && payload.length >= 2) {
    countNal(payload[1] & 0x1f, (payload[1] & 0x80) !== 0); // FU-A: the NAL type once, on its start fragment
  } else {
    countNal(type, true);
  }
}

const pc = new RTCPeerConnection({
  iceUseIpv6: false,
  codecs: {
    video: [
      new RTCRtpCodecParameters({
        mimeType: "video/H264",
        clockRate: 90000,
        rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }],
        parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
      }),
    ],
  },
});
pc.connectionStateChange.subscribe((state) => {
  if (state === "connected") console.log(`CONNECTED ${since()}`);
  if (state === "closed" || state === "failed" || state === "disconnected") end(`connection-${state}`);
});
const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
transceiver.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(onRtp));

try {
  await pc.setLocalDescription(await pc.createOffer());
  // werift gathers its host candidates before the offer is complete: one POST, no trickle needed.
  console.log(`OFFER ${since()}`); // ms werift took to gather and write its offer
  started = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
    body: pc.localDescription.sdp,
  });
  const body = await response.text();
  if (response.status !== 201) {
    console.log(`REFUSED ${response.status} ${body.replace(/[\r\n]+/g, " ")}`);
    await pc.close();
    process.exit(2);
  }
  console.log(`CREATED ${response.headers.get("location")}`);
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  // The DTLS transport closes on the gateway's close_notify alert.
  for (const t of pc.dtlsTransports ?? []) {
    t.onStateChange?.subscribe((state) => {
      if (state === "closed") end("dtls-closed");
    });
  }

  const deadline = setTimeout(() => end("time-up"), (untilClosed ? 120 : seconds) * 1000);
  const watch = setInterval(() => {
    if (lastRtpAt > 0 && performance.now() - lastRtpAt > rtpSilenceMs) end("rtp-stopped");
  }, 100);
  await done;
  clearTimeout(deadline);
  clearInterval(watch);
  console.log(`SUMMARY ${JSON.stringify({ ...stats, ended, ms: since() })}`);
  await pc.close().catch(() => {});
  process.exit(0);
} catch (e) {
  console.error(`werift viewer failed: ${e?.stack ?? e}`);
  process.exit(1);
}
