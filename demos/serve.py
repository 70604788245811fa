"""Headless live view: a small HTTP server with the annotated MJPEG stream and a live stats panel.

Standard library only (``http.server.ThreadingHTTPServer``) plus OpenCV for JPEG encoding. The producer calls
:meth:`LiveView.publish` with each annotated BGR frame and its stats; every connected browser gets the latest
frame (a slow client skips frames rather than delaying the producer). Routes:

- ``/``            the page: the stream in an ``<img>`` and a stats panel refreshed from ``/stats`` by a little JS;
- ``/stream.mjpg`` ``multipart/x-mixed-replace`` MJPEG stream;
- ``/frame.jpg``   the latest frame as one JPEG;
- ``/stats``       JSON: ``frames`` (published so far), ``fps``, ``latency_ms``, ``people`` and any extra fields
  (the demo adds ``precision`` and, on Linux, ``cpu_process_percent`` / ``cpu_system_percent``: CPU load of the
  demo process and of the machine, percent of all cores; see :mod:`demos.cpu_load`).

``HEAD`` answers each route's headers without the body (the stream's headers, then the connection closes).
Other standard methods (POST, PUT, ...) get 405 with ``Allow: GET, HEAD``.

Serves on ``127.0.0.1`` by default; pass ``host="0.0.0.0"`` explicitly to expose it on the network (a warning is
logged then: the stream has no password).
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from pose_format import dumps_strict, finite_or_none

__all__ = ["LiveView", "PAGE"]

log = logging.getLogger(__name__)
_BOUNDARY = "lwposeframe"

#: The live-view page. ``/stats`` is polled every 500 ms; the panel shows frames, FPS, latency, people and, when the
#: stats have it, the CPU load (process and machine). When ``/stats`` fails the page says so, and when it answers
#: again (the demo restarted on that port) the stream is opened again.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lightweight OpenPose - live</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { margin: 0; background: #111; color: #eee; font: 15px/1.4 system-ui, sans-serif; display: flex;
        flex-wrap: wrap; gap: 16px; padding: 16px; }
 #view { max-width: 100%; height: auto; background: #000; border: 1px solid #333; }
 #panel { min-width: 200px; } #panel dt { color: #999; } #panel dd { margin: 0 0 8px 0; font-size: 22px; }
 #status { color: #e66; }
</style></head>
<body>
<img id="view" src="/stream.mjpg" alt="annotated live stream">
<dl id="panel">
 <dt>FPS</dt><dd id="fps">-</dd>
 <dt>Latency</dt><dd id="latency">-</dd>
 <dt>People</dt><dd id="people">-</dd>
 <dt>Frames</dt><dd id="frames">0</dd>
 <dt class="cpu" hidden>CPU (process / machine)</dt><dd class="cpu" id="cpu" hidden>-</dd>
 <dt id="extra-title"></dt><dd id="extra"></dd>
 <dd id="status"></dd>
</dl>
<script>
const fmt = (v, d, unit) => (v === null || v === undefined) ? "-" : Number(v).toFixed(d) + (unit || "");
let lost = false;  // the server went away: when it answers again (a restarted demo), the stream reconnects
async function refresh() {
  try {
    const r = await fetch("/stats", {cache: "no-store"});
    const s = await r.json();
    if (lost) {
      document.getElementById("view").src = "/stream.mjpg?t=" + Date.now();
      lost = false;
    }
    document.getElementById("fps").textContent = fmt(s.fps, 1);
    document.getElementById("latency").textContent = fmt(s.latency_ms, 1, " ms");
    document.getElementById("people").textContent = fmt(s.people, 0);
    document.getElementById("frames").textContent = String(s.frames);
    const hasCpu = s.cpu_process_percent !== undefined && s.cpu_process_percent !== null;
    document.querySelectorAll(".cpu").forEach(e => { e.hidden = !hasCpu; });
    if (hasCpu) {
      document.getElementById("cpu").textContent =
        fmt(s.cpu_process_percent, 0, "%") + " / " + fmt(s.cpu_system_percent, 0, "%");
    }
    const shown = ["fps", "latency_ms", "people", "frames", "cpu_process_percent", "cpu_system_percent", "ended"];
    const extra = Object.entries(s).filter(([k]) => !shown.includes(k));
    document.getElementById("extra").textContent = extra.map(([k, v]) => k + ": " + v).join(", ");
    document.getElementById("status").textContent = s.ended ? "input ended: last frame and final figures" : "";
  } catch (e) {
    lost = true;
    document.getElementById("status").textContent = "stats unavailable";
  }
}
refresh(); setInterval(refresh, 500);
</script>
</body></html>
"""


class LiveView:
    """A live-view HTTP server running in a daemon thread; use as a context manager or call :meth:`close`.

    ``port=0`` picks a free port (see :attr:`url`). ``jpeg_quality`` is 0..100. ``client_timeout``: seconds a client
    may take to read a frame (or to send its request) before its connection is dropped, so a client that stops
    reading does not hold a thread and its socket buffers for ever (a paused input's idle stream is not dropped).
    """

    def __init__(self, port: int = 8080, host: str = "127.0.0.1", jpeg_quality: int = 80,
                 client_timeout: float = 10.0):
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._stats: dict[str, Any] = {"frames": 0, "fps": None, "latency_ms": None, "people": None}
        self._closed = False
        self._quality = int(jpeg_quality)
        view = self

        class Handler(_Handler):
            live = view
            timeout = client_timeout

        server_class = ThreadingHTTPServer
        if ":" in host:  # an IPv6 address (::1, ::): ThreadingHTTPServer binds IPv4 only
            server_class = type("ThreadingHTTPServerV6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
        try:
            self._server = server_class((host, port), Handler)
        except OSError as e:
            raise OSError(f"cannot serve the live view on {host}:{port}: {e.strerror or e}") from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="lwpose-live-view", daemon=True)
        self._thread.start()
        log.info("live view at %s%s", self.url, " (on every interface of this machine)" if self.every_interface else "")
        if not self.local:
            log.warning("the live view on %s is open to the network: anyone who can reach this machine sees the "
                        "stream (no password); --host 127.0.0.1 (the default) keeps it on this machine", self.url)

    @property
    def url(self) -> str:
        """The page's address. Served on every interface (``0.0.0.0``, ``::``), it names this machine by its host
        name: ``http://0.0.0.0:PORT/`` opens nothing. An IPv6 address is in brackets."""
        host, port = self._server.server_address[:2]
        if self.every_interface:
            host = socket.gethostname() or "localhost"
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    @property
    def every_interface(self) -> bool:
        """Whether the server listens on every interface (host ``0.0.0.0`` or ``::``)."""
        return self._address().is_unspecified

    @property
    def local(self) -> bool:
        """Whether the server listens on a loopback address only (reachable from this machine alone)."""
        return self._address().is_loopback

    def _address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address the server listens on (an IPv6 scope, ``%eth0``, left out)."""
        return ipaddress.ip_address(self._server.server_address[0].split("%")[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def publish(self, frame: np.ndarray, **stats: Any) -> None:
        """Encode a BGR uint8 frame as JPEG, make it the latest frame and update the stats (e.g. fps=, latency_ms=,
        people=); ``frames`` counts the calls. A NaN or infinite figure is shown as unknown (``null`` in ``/stats``)."""
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise ValueError(f"cannot JPEG-encode a frame of shape {getattr(frame, 'shape', None)}")
        with self._cond:
            self._jpeg = buf.tobytes()
            self._seq += 1
            self._stats.update(_json_stats(stats))
            self._stats["frames"] = self._seq
            self._cond.notify_all()

    def end(self, **stats: Any) -> None:
        """Mark the stream as ended (``"ended": true`` in ``/stats``; the page says so) and update the stats, e.g.
        with the run's summary figures; the last frame stays visible."""
        with self._cond:
            self._stats.update(_json_stats(stats))
            self._stats["ended"] = True
            self._cond.notify_all()

    def stats(self) -> dict[str, Any]:
        """A copy of the current stats (what ``/stats`` returns)."""
        with self._cond:
            return dict(self._stats)

    def latest(self) -> tuple[int, bytes | None]:
        """``(sequence number, JPEG bytes)`` of the latest frame (``(0, None)`` before the first)."""
        with self._cond:
            return self._seq, self._jpeg

    def wait_frame(self, after: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """Block until a frame newer than ``after`` is published (or ``timeout`` seconds / close); return latest()."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self._closed, timeout=timeout)
            return self._seq, self._jpeg

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop serving; open streams end within about a second, and a connection kept alive (a page polling
        ``/stats``) gets 503 and is closed at its next request."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LiveView":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _json_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """``stats`` with each NaN / infinite float as ``None``: ``/stats`` is strict JSON (the page's ``JSON.parse``
    refused a ``NaN`` and stopped updating the panel)."""
    return {k: finite_or_none(v) if isinstance(v, (float, np.floating)) else v for k, v in stats.items()}


class _Handler(BaseHTTPRequestHandler):
    live: LiveView
    protocol_version = "HTTP/1.1"

    def handle(self) -> None:
        """Serve the connection; a client that leaves mid-answer (a closed tab, an aborted download of the page, a
        frame or the stream) is logged at debug level, not printed as a traceback."""
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            log.debug("client %s left", self.address_string())

    def log_message(self, fmt, *args):  # route access logs to logging, at debug level
        log.debug("%s - " + fmt, self.address_string(), *args)

    def _send(self, body: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK,
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        """Answer with ``body`` (bytes; none for HEAD, its Content-Length still given) of ``content_type``, ``status``
        and the extra ``headers``, never cached; the last answer of a connection once the view is closed."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if self.live.closed:  # a connection kept alive from before close(): this answer is its last
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        path = self.path.split("?", 1)[0]
        if self.live.closed:
            self._send(b"live view closed", "text/plain", HTTPStatus.SERVICE_UNAVAILABLE)
        elif path in ("/", "/index.html"):
            self._send(PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/stats":
            self._send(dumps_strict(self.live.stats()).encode(), "application/json")
        elif path == "/frame.jpg":
            _, jpeg = self.live.latest()
            if jpeg is None:
                self._send(b"no frame yet", "text/plain", HTTPStatus.SERVICE_UNAVAILABLE)
            else:
                self._send(jpeg, "image/jpeg")
        elif path == "/stream.mjpg":
            self._stream()
        else:
            self._send(b"not found", "text/plain", HTTPStatus.NOT_FOUND)

    def do_HEAD(self):  # noqa: N802
        """As GET, headers only (``curl -I``, uptime checks): the stream answers its headers and ends."""
        self.do_GET()

    def _not_allowed(self) -> None:
        """405 with ``Allow: GET, HEAD`` for the standard methods the view does not serve (POST, PUT, ...; an
        unknown method still gets 501). The request's body is not read, so the connection is closed after."""
        self.close_connection = True
        self._send(b"method not allowed: the live view answers GET and HEAD", "text/plain",
                   HTTPStatus.METHOD_NOT_ALLOWED, (("Allow", "GET, HEAD"), ("Connection", "close")))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed  # noqa: N815

    def _stream(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        seq = 0
        # each frame is followed at once by the next part's boundary and headers: a browser (Chromium at least)
        # shows a part only once the next one has begun, so without them every frame would wait for the next
        # (a frame of latency, and the last frame of a finished or paused input never shown). Parts therefore
        # carry no Content-Length: the boundary delimits them, as multipart allows.
        part_head = f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode()
        self.wfile.write(part_head)
        while not self.live.closed:
            new_seq, jpeg = self.live.wait_frame(seq, timeout=1.0)
            if new_seq == seq or jpeg is None:
                continue
            seq = new_seq
            self.wfile.write(jpeg + b"\r\n" + part_head)
            self.wfile.flush()


def _demo_source(view: LiveView, stop: threading.Event, fps: float = 15.0) -> None:
    """A moving test pattern (used by ``python -m demos.serve`` to check a browser without a model)."""
    from demos.cpu_load import CpuLoadReader

    cpu = CpuLoadReader()
    t0 = time.perf_counter()
    n = 0
    while not stop.is_set():
        frame = np.zeros((360, 640, 3), np.uint8)
        x = int((n * 7) % 600)
        cv2.rectangle(frame, (x, 150), (x + 40, 210), (0, 200, 255), -1)
        cv2.putText(frame, f"frame {n}", (10, 340), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        n += 1
        load = cpu.sample()
        view.publish(frame, fps=n / max(1e-6, time.perf_counter() - t0), latency_ms=1000 / fps, people=n % 4,
                     **(load.as_dict() if load is not None else {}))
        stop.wait(1 / fps)


def main(argv: list[str] | None = None) -> int:
    """``python -m demos.serve [--port P] [--host H]``: serve a moving test pattern (checks a browser, no model)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m demos.serve", description=main.__doc__)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    try:
        view = LiveView(args.port, args.host)
    except (OSError, OverflowError) as exc:  # port in use, out of range, unknown host
        p.error(str(exc))
    with view:
        print(f"live view (test pattern) at {view.url} - Ctrl+C stops")
        try:
            _demo_source(view, stop)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
