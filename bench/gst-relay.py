#!/usr/bin/python3
"""gst-rtsp-server relaying one RTSP camera to many viewers: the reference the `fanout` benchmark compares
the gateway with. One shared media factory, i.e. one upstream connection for all viewers, exactly
`( rtspsrc location=<source> latency=0 protocols=tcp ! rtph264depay ! rtph264pay name=pay0 pt=96 config-interval=-1 )`.

Needs Debian's /usr/bin/python3 with gi and: gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly.

usage: /usr/bin/python3 bench/gst-relay.py --port 8554 --source rtsp://127.0.0.1:18554/Streaming/Channels/101 [--path /relay] [--nosync]
Prints "READY rtsp://127.0.0.1:<port><path>" once it listens; runs until SIGTERM/SIGINT.
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--path", default="/relay")
    ap.add_argument("--nosync", action="store_true",
                    help="sync=false on the RTP appsinks: stock gst-rtsp-server renders each buffer against the "
                         "pipeline clock (sync=true), which adds the pipeline latency (~20 ms here) to every packet")
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.set_backlog(1024)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( rtspsrc location={args.source} latency=0 protocols=tcp "
        "! rtph264depay ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)  # one upstream session shared by every viewer
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    server.get_mount_points().add_factory(args.path, factory)

    if args.nosync:
        # rtsp-stream creates and configures its appsinks when viewers' transports are added, after the
        # media is prepared (and sets their properties after adding them): switch sync off as they appear.
        pipelines = []

        def unsync():
            for pipeline in pipelines:
                it = pipeline.iterate_recurse()
                while True:
                    res, element = it.next()
                    if res == Gst.IteratorResult.RESYNC:
                        it.resync()
                        continue
                    if res != Gst.IteratorResult.OK:
                        break
                    factory_of = element.get_factory()
                    if factory_of is not None and factory_of.get_name() == "appsink" and element.get_property("sync"):
                        element.set_property("sync", False)
            return True

        factory.connect("media-configure", lambda _f, media: pipelines.append(media.get_element().get_parent()))
        GLib.timeout_add(200, unsync)

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
