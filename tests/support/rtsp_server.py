"""A real RTSP camera for camwatch's tests: GStreamer's RTSP server (Debian
gir1.2-gst-rtsp-server-1.0) serving live H.264 640x360 at 15 fps on 127.0.0.1.

Run with Debian's /usr/bin/python3 (it has `gi`). The port is chosen by the OS and printed as
"READY <port>" once the server listens, so the harness never races for a port.

    rtsp_server.py [--path /test] [--auth none|basic|digest] [--user U] [--password P]

One authentication scheme per process: PyGObject exposes the supported methods as an enum, so
Basic and Digest cannot be combined into one flag set.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true ! video/x-raw,width=640,height=360,framerate=15/1 ! "
    "x264enc tune=zerolatency speed-preset=ultrafast ! rtph264pay name=pay0 pt=96 )"
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", default="/test")
    parser.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    parser.add_argument("--user", default="viewer")
    parser.add_argument("--password", default="")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    # One pipeline for every client: DESCRIBE after DESCRIBE must not start a new encoder each time.
    factory.set_shared(True)

    if args.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        if args.auth == "basic":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        else:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print("cannot listen", file=sys.stderr, flush=True)
        sys.exit(1)

    loop = GLib.MainLoop()
    # The harness stops the server with SIGTERM; quit the loop cleanly rather than die mid-write.
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
