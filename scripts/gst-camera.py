#!/usr/bin/python3
"""A real RTSP "camera" for the gateway's integration tests and benchmarks, built on gst-rtsp-server.

It is the peer that stands in for a Hikvision recorder: ONVIF RTSP server (RTSPOnvifServer), live
H.264 + PCMU on Hikvision-style mount paths, an ONVIF audio backchannel, a seekable replay mount,
optional RTSP authentication, and a plain relay mode the benchmark compares the gateway against.

Contract with the test fixture (tests/HikShareGateway.Tests/Infrastructure/GstRtspCamera.cs):
  * listens on 127.0.0.1:--port only (never on other interfaces);
  * prints exactly "READY <port>" on stdout once the listening socket exists;
  * exits 2 with a message on stderr if it cannot bind (the fixture then retries another port);
  * exits 0 on SIGTERM/SIGINT, and when stdin is a pipe that closes. The fixture keeps stdin open,
    so a test runner that dies (and with it the pipe's write end) never leaves a camera behind.

Modes:
  live   (default) /Streaming/Channels/101 (640x360) and /Streaming/Channels/102 (320x180), shared,
         H.264 (pay0) + PCMU (pay1), ONVIF backchannel written to --backchannel-file.
  replay --file X.mp4 served on --path (default /Streaming/tracks/101), one pipeline per client,
         seekable (Range: npt=...), ONVIF replay (Require: onvif-replay) accepted. With --clock-origin T0
         the file stands for a recorder's recording made since T0 on the wall clock, its first half repeated:
         a PLAY's "Range: clock=X-[Y]" becomes npt=((X-T0) mod half the file's length)-[+ (Y-X)], and every
         PLAY's Range is logged on stderr ("gst-camera: PLAY Range: <as received> -> <as played>").
  relay  --source rtsp://... re-served on --path (default /relay): gst-rtsp-server as a relay.

GStreamer 1.22 (Debian 12) findings are kept in tests/README.md ("Real camera harness").
"""

import argparse
import datetime
import os
import signal
import socket
import stat
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

LIVE_MAIN_PATH = "/Streaming/Channels/101"
LIVE_SUB_PATH = "/Streaming/Channels/102"
FPS = 25

# The backchannel sink: the caps filter must be named depay_backchannel (RTSPOnvifMedia looks the
# element up by that name to create the sendonly stream), and the sink must not be async or the
# media never prerolls (nothing flows into a backchannel until a client sends, so an async sink would
# wait forever and DESCRIBE would time out).
# buffer-mode=unbuffered: filesink otherwise holds 64 KB (8 s of PCMU) until the media is torn down,
# and tests want to see the bytes while the talker is still talking.
# Backchannel media are never shared (RTSPOnvifMediaFactory's gen_key refuses), so every DESCRIBE
# with the backchannel Require builds its own pipeline and re-creates (truncates) this file.
BACKCHANNEL_LAUNCH = (
    '( capsfilter caps="application/x-rtp, media=audio, payload=0, clock-rate=8000, encoding-name=PCMU" '
    'name=depay_backchannel ! rtppcmudepay ! filesink location="{location}" async=false buffer-mode=unbuffered )'
)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    p.add_argument("--mode", choices=["live", "replay", "relay"], default="live")
    p.add_argument("--path", help="mount path (default depends on --mode)")
    p.add_argument("--gop", type=int, default=25, help="live: x264enc key-int-max (frames)")
    p.add_argument("--bitrate-kbps", type=int, default=1000, help="live: x264enc bitrate of the main stream")
    p.add_argument("--pattern", default="ball", help="live: videotestsrc pattern (smpte: colour bars at known places)")
    p.add_argument("--codec", choices=["h264", "h265"], default="h264", help="live: video codec (h265: x265enc, rtph265pay)")
    p.add_argument("--audio", choices=["pcmu", "aac"], default="pcmu",
                   help="live: audio codec (aac: voaacenc 16 kHz mono, rtpmp4gpay mpeg4-generic AAC-hbr)")
    p.add_argument("--backchannel-file", default="/tmp/gst-camera-backchannel.ulaw",
                   help="live: where the ONVIF backchannel's PCMU payload is written")
    p.add_argument("--no-backchannel", action="store_true", help="live: no ONVIF backchannel")
    p.add_argument("--file", help="replay: the MP4 (H.264) to serve")
    p.add_argument("--clock-origin", help="replay: wall-clock UTC time (20261201T080000Z) of the file's start; clock= Ranges map onto the file")
    p.add_argument("--source", help="relay: the RTSP URL to pull")
    p.add_argument("--user", help="require RTSP authentication as this user")
    p.add_argument("--password", help="password for --user")
    p.add_argument("--auth-method", choices=["digest", "basic"], default="digest")
    return p.parse_args()


def live_launch(width, height, gop, bitrate_kbps, pattern="ball", codec="h264", audio="pcmu"):
    # is-live sources: the stream runs in real time whether or not anyone reads it, like a camera.
    # tune=zerolatency drops B-frames and lookahead so the first frame leaves at once;
    # config-interval=-1 repeats SPS/PPS with every IDR so a viewer can join mid-stream.
    # threads=1: with zerolatency x264 otherwise uses sliced threads (one slice per core), and
    # ffmpeg's RTSP demuxer then reports each keyframe as two packets with the same pts, which breaks
    # frame counting in tests and benchmarks. One thread is plenty for ultrafast at 640x360.
    return (
        f"( videotestsrc is-live=true pattern={pattern} "
        f"! video/x-raw,format=I420,width={width},height={height},framerate={FPS}/1 "
        + (video_encoder_h265(gop, bitrate_kbps) if codec == "h265" else
           f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={bitrate_kbps} threads=1 "
           "! rtph264pay name=pay0 pt=96 config-interval=-1 ")
        + (audio_encoder_aac() if audio == "aac" else
           "audiotestsrc is-live=true wave=sine volume=0.2 ! audio/x-raw,rate=8000,channels=1 "
           "! mulawenc ! rtppcmupay name=pay1 pt=0 )")
    )


def audio_encoder_aac():
    # AAC-LC as many IP cameras send it: RFC 3640 mpeg4-generic, one access unit (1024 samples) per packet.
    return (
        "audiotestsrc is-live=true wave=sine freq=440 volume=0.2 ! audio/x-raw,rate=16000,channels=1 "
        "! voaacenc bitrate=32000 ! aacparse ! rtpmp4gpay name=pay1 pt=97 )"
    )


def video_encoder_h265(gop, bitrate_kbps):
    # H.265 as Hikvision recorders send it by default. zerolatency: no B-frames; VPS/SPS/PPS repeated before every
    # IRAP (x265 repeat-headers, and the payloader's config-interval) so that a viewer can join mid-stream.
    return (
        f"! x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={bitrate_kbps} "
        'option-string="repeat-headers=1:pools=1:frame-threads=1:log-level=error" '
        "! video/x-h265,profile=main ! rtph265pay name=pay0 pt=96 config-interval=-1 "
    )


def drop_when_unlinked(pad, info):
    """A pad probe: a packet for a stream no client SET UP is dropped instead of failing its source."""
    return Gst.PadProbeReturn.OK if pad.is_linked() else Gst.PadProbeReturn.DROP


def on_media_prepared(media):
    # gst-rtsp-server (1.22) builds the sender part (the TCP sink behind rtpbin's send_rtp_src_N) only
    # for the streams a client SETs UP. A backchannel client sets up just the backchannel, so the live
    # sources' packets reach an unlinked send_rtp_src pad: the push returns not-linked, videotestsrc and
    # audiotestsrc stop with "Internal data stream error" and the media goes to its error status. In
    # about one session in five the backchannel then wrote nothing at all: its RTP never got past
    # rtpbin's receive side (no jitter buffer was created), although every packet reached the appsrc.
    # Dropping packets at an unlinked send pad (the probe runs before the push looks for a peer, and a
    # dropped buffer counts as pushed) keeps the sources and the media running as a real camera does.
    for element in items(media.get_element().get_parent().iterate_elements()):
        if element.get_factory() is not None and element.get_factory().get_name() == "rtpbin":
            for pad in items(element.iterate_src_pads()):
                if pad.get_name().startswith("send_rtp_src_"):
                    pad.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, drop_when_unlinked)


def items(iterator):
    """The objects of a Gst.Iterator (PyGObject on Debian 12 does not make it a Python iterable)."""
    while True:
        result, value = iterator.next()
        if result == Gst.IteratorResult.RESYNC:
            iterator.resync()
        elif result == Gst.IteratorResult.OK:
            yield value
        else:
            return


def onvif_factory(launch, live=False):
    f = GstRtspServer.RTSPOnvifMediaFactory()
    # Without this the factory builds plain RTSPMedia and every DESCRIBE answers 400 (protocols.md).
    f.set_media_gtype(GstRtspServer.RTSPOnvifMedia)
    f.set_launch(launch)
    if live:
        f.connect("media-configure", lambda _factory, media: media.connect("prepared", on_media_prepared))
    return f


def build_factories(args):
    """(path, factory) pairs for the chosen mode."""
    if args.mode == "live":
        main = onvif_factory(live_launch(640, 360, args.gop, args.bitrate_kbps, args.pattern, args.codec, args.audio), live=True)
        # The sub stream gets a quarter of the bitrate, like a recorder's second channel.
        sub = onvif_factory(live_launch(320, 180, args.gop, max(64, args.bitrate_kbps // 4), args.pattern, args.codec, args.audio), live=True)
        for f in (main, sub):
            f.set_shared(True)  # one encoder per mount, however many viewers
        if not args.no_backchannel:
            main.set_backchannel_launch(BACKCHANNEL_LAUNCH.format(location=GLib.strescape(args.backchannel_file)))
        return [(args.path or LIVE_MAIN_PATH, main), (LIVE_SUB_PATH, sub)]

    if args.mode == "replay":
        if not args.file or not os.path.isfile(args.file):
            sys.exit(f"gst-camera: --mode replay needs --file pointing at an MP4 (got {args.file!r})")
        location = GLib.strescape(os.path.abspath(args.file))
        f = onvif_factory(f'( filesrc location="{location}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )')
        f.set_replay_support(True)  # accepts "Require: onvif-replay" (ONVIF Streaming spec §6)
        f.set_shared(False)  # each client owns its pipeline, hence its own position and seeks
        return [(args.path or "/Streaming/tracks/101", f)]

    if not args.source:
        sys.exit("gst-camera: --mode relay needs --source rtsp://...")
    f = GstRtspServer.RTSPMediaFactory()
    f.set_launch(
        f'( rtspsrc location="{args.source}" latency=0 protocols=tcp ! rtph264depay '
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    f.set_shared(True)  # one upstream session for all viewers, which is what a relay is for
    return [(args.path or "/relay", f)]


def parse_clock(text):
    """20261201T080000Z or 20261201T080000.25Z (RFC 2326 §3.7 utc-time) as an aware datetime."""
    text = text.rstrip("Z")
    main, _, frac = text.partition(".")
    t = datetime.datetime.strptime(main, "%Y%m%dT%H%M%S").replace(tzinfo=datetime.timezone.utc)
    return t + datetime.timedelta(seconds=float("0." + frac) if frac else 0)


def file_duration_seconds(path):
    """The MP4's duration, from a discoverer (seconds)."""
    from gi.repository import GstPbutils  # noqa: E402  (only replay mode needs it)
    info = GstPbutils.Discoverer.new(10 * Gst.SECOND).discover_uri(Gst.filename_to_uri(os.path.abspath(path)))
    return info.get_duration() / Gst.SECOND


class ClockMappingProxy:
    """
    The replay camera's front door with --clock-origin: a TCP relay to gst-rtsp-server that rewrites each request's
    "Range: clock=X-[Y]" to npt on the file before gst-rtsp-server sees it, and logs every PLAY's Range.

    Why a relay: gst-rtsp-server counts clock time from 1900-01-01 (position 9 s is 19000101T000009Z) while a
    recorder's clock is the wall clock, and its pre-play-request signal cannot change the request (PyGObject hands the
    handler a copy of the message). Requests and the client's interleaved frames ($, RFC 2326 §10.12) go through one
    parser; the server's side is copied as it is.
    """

    def __init__(self, listener, upstream_port, origin, duration):
        self.listener = listener
        self.upstream_port = upstream_port
        self.origin = origin
        self.duration = duration

    def start(self):
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self.copy, args=(server, client), daemon=True).start()

    @staticmethod
    def copy(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def requests(self, src, dst):
        buf = b""
        try:
            while data := src.recv(65536):
                buf += data
                while (used := self.forward_one(buf, dst)) > 0:
                    buf = buf[used:]
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def forward_one(self, buf, dst):
        """Forwards the first whole message or interleaved frame of buf; returns the bytes used, 0 when it needs more."""
        if buf[:1] == b"$":
            if len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[2:4], "big"):
                return 0
            n = 4 + int.from_bytes(buf[2:4], "big")
            dst.sendall(buf[:n])
            return n
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return 0
        head = buf[:end + 4].decode("latin-1")
        length = 0
        for line in head.split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        if len(buf) < end + 4 + length:
            return 0
        dst.sendall(self.rewrite(head).encode("latin-1") + buf[end + 4:end + 4 + length])
        return end + 4 + length

    def to_npt(self, clock):
        """
        X-[Y] on the wall clock → npt on the file. The recording repeats every half file, so that from any position
        at least half the file is left to play; an end is kept as a length (the recorder stops there: a download of a
        span ends) unless it runs past the file.
        """
        start_text, _, end_text = clock.partition("-")
        start = parse_clock(start_text)
        offset = (start - self.origin).total_seconds() % (self.duration / 2)
        end = offset + (parse_clock(end_text) - start).total_seconds() if end_text else None
        return f"npt={offset:.3f}-" + (f"{end:.3f}" if end is not None and end < self.duration else "")

    def rewrite(self, head):
        lines = head.split("\r\n")
        if not lines[0].startswith("PLAY "):
            return head
        for i, line in enumerate(lines):
            if line.lower().startswith("range:"):
                value = line.split(":", 1)[1].strip()
                played = value
                if value.startswith("clock="):
                    played = self.to_npt(value[len("clock="):])
                    lines[i] = "Range: " + played
                print(f"gst-camera: PLAY Range: {value} -> {played}", file=sys.stderr, flush=True)
                return "\r\n".join(lines)
        print("gst-camera: PLAY Range: (none)", file=sys.stderr, flush=True)
        return head


def configure_auth(server, factories, args):
    """RTSP authentication for one user; unauthenticated requests get 401 with a challenge."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    # The token's role is what the factories' permissions are keyed on.
    token.set_string("media.factory.role", args.user)
    if args.auth_method == "digest":
        # GStreamer >= 1.12 can challenge with Digest (RFC 2617, MD5, qop-less); credentials are
        # registered per method, and only the methods set here are offered in WWW-Authenticate.
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(args.user, args.password or "", token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
    server.set_auth(auth)
    perms = Gst.Structure.new_from_string(
        f"{args.user}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
    )
    for _, f in factories:
        f.add_role_from_structure(perms)


def main():
    args = parse_args()
    Gst.init(None)

    server = GstRtspServer.RTSPOnvifServer() if args.mode != "relay" else GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    # With --clock-origin the relay owns the public port and gst-rtsp-server listens on a port of its own choosing.
    mapped = args.mode == "replay" and args.clock_origin
    server.set_service("0" if mapped else str(args.port))

    factories = build_factories(args)
    if args.user:
        configure_auth(server, factories, args)
    mounts = server.get_mount_points()
    for path, f in factories:
        mounts.add_factory(path, f)

    loop = GLib.MainLoop()
    # attach() creates and binds the listening socket; 0 means it could not (port taken).
    if server.attach(None) == 0:
        print(f"gst-camera: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        sys.exit(2)
    if mapped:
        try:
            listener = socket.create_server(("127.0.0.1", args.port))
        except OSError:
            print(f"gst-camera: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
            sys.exit(2)
        gi.require_version("GstPbutils", "1.0")
        ClockMappingProxy(listener, server.get_bound_port(), parse_clock(args.clock_origin), file_duration_seconds(args.file)).start()

    def quit_loop(*_):
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, quit_loop)

    # Stdin watch only for a pipe/socket (the fixture's case): a shell's </dev/null would read EOF at
    # once and a terminal is better left to Ctrl-C.
    mode = os.fstat(0).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        def on_stdin(fd, condition):
            if condition & (GLib.IO_HUP | GLib.IO_ERR) or not os.read(fd, 4096):
                loop.quit()
                return GLib.SOURCE_REMOVE
            return GLib.SOURCE_CONTINUE  # anything written is ignored

        GLib.io_add_watch(0, GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, on_stdin)

    print(f"READY {args.port}", flush=True)
    print(f"gst-camera: {args.mode} on " + ", ".join(f"rtsp://127.0.0.1:{args.port}{p}" for p, _ in factories),
          file=sys.stderr, flush=True)
    loop.run()


if __name__ == "__main__":
    main()
