"""demos.serve: the MJPEG live view, over plain HTTP and in headless Chromium (selenium)."""
import json
import re
import shutil
import socket
import tempfile
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest

from demos.serve import LiveView


def _frame(n: int) -> np.ndarray:
    f = np.zeros((120, 160, 3), np.uint8)
    cv2.putText(f, str(n), (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 2)
    return f


class _FakeSource:
    """Publishes numbered frames with changing stats until stopped (stands in for the pose pipeline)."""

    def __init__(self, view: LiveView, fps: float = 20.0):
        self.view, self.stop, self.fps = view, threading.Event(), fps
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            self.view.publish(_frame(n), fps=10.0 + n % 7, latency_ms=20.0 + n % 5, people=n % 3,
                              cpu_process_percent=30.0 + n % 4, cpu_system_percent=70.0)
            self.stop.wait(1 / self.fps)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def test_routes_stats_frame_and_mjpeg_stream():
    with LiveView(port=0) as view:
        assert view.url.startswith("http://127.0.0.1:")
        page = urllib.request.urlopen(view.url, timeout=5).read().decode()
        assert 'src="/stream.mjpg"' in page and "/stats" in page
        assert json.loads(urllib.request.urlopen(view.url + "stats", timeout=5).read())["frames"] == 0
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(view.url + "nope", timeout=5)
        assert e.value.code == 404
        # a single frame (a paused or finished input) is closed by the next boundary at once, so browsers show it
        view.publish(_frame(0), fps=1.0, latency_ms=1.0, people=0)
        resp = urllib.request.urlopen(view.url + "stream.mjpg", timeout=5)
        data = b""
        while data.count(b"--lwposeframe") < 2:  # times out (5 s) if the next part did not begin
            data += resp.read1(65536)
        resp.close()
        head = b"--lwposeframe\r\nContent-Type: image/jpeg\r\n\r\n"
        assert data.startswith(head) and data.endswith(b"\r\n" + head)  # the next part has begun
        with _FakeSource(view):
            resp = urllib.request.urlopen(view.url + "stream.mjpg", timeout=5)
            assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            data = b""
            while data.count(b"--lwposeframe") < 4:  # the opening boundary, then one after each of 3 frames
                data += resp.read1(65536)
            resp.close()
            part = data.split(b"--lwposeframe")[1]
            jpeg = part.split(b"\r\n\r\n", 1)[1]
            img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert img.shape == (120, 160, 3)
            one = urllib.request.urlopen(view.url + "frame.jpg", timeout=5)
            assert one.headers["Content-Type"] == "image/jpeg"
            stats = json.loads(urllib.request.urlopen(view.url + "stats", timeout=5).read())
            assert stats["frames"] >= 3 and {"fps", "latency_ms", "people"} <= stats.keys()
            assert 30.0 <= stats["cpu_process_percent"] <= 33.0 and stats["cpu_system_percent"] == 70.0
        assert "ended" not in stats
        view.end(fps=12.5)  # the input ended: /stats says so, the page shows it
        stats = json.loads(urllib.request.urlopen(view.url + "stats", timeout=5).read())
        assert stats["ended"] is True and stats["fps"] == 12.5 and "input ended" in page


def test_stats_are_strict_json_with_non_finite_figures_as_null():
    """A NaN / infinite figure (a broken timer, a caller's NaN) was served as ``NaN``, which the page's JSON.parse
    refuses: the panel stopped updating."""
    def refuse(constant):
        raise AssertionError(f"{constant} in /stats: not JSON")

    with LiveView(port=0) as view:
        view.publish(_frame(0), fps=float("nan"), latency_ms=np.float32("inf"), people=2, cpu_process_percent=3.5)
        stats = json.loads(urllib.request.urlopen(view.url + "stats", timeout=5).read(), parse_constant=refuse)
        assert stats["fps"] is None and stats["latency_ms"] is None and stats["people"] == 2
        assert stats["cpu_process_percent"] == 3.5
        view.end(fps=float("-inf"))
        stats = json.loads(urllib.request.urlopen(view.url + "stats", timeout=5).read(), parse_constant=refuse)
        assert stats["fps"] is None and stats["ended"] is True


def test_head_answers_headers_without_body():
    with LiveView(port=0) as view:
        view.publish(_frame(0), fps=1.0, latency_ms=1.0, people=0)
        for path, content_type in (("", "text/html"), ("stats", "application/json"), ("frame.jpg", "image/jpeg"),
                                   ("stream.mjpg", "multipart/x-mixed-replace")):
            resp = urllib.request.urlopen(urllib.request.Request(view.url + path, method="HEAD"), timeout=5)
            assert resp.status == 200 and resp.headers["Content-Type"].startswith(content_type), path
            assert resp.read() == b"", path
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(view.url + "nope", method="HEAD"), timeout=5)
        assert e.value.code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_are_405_with_allow_header(method):
    """Correct HTTP for a method the view does not serve: 405 and ``Allow: GET, HEAD`` (it was 501 with HTML)."""
    import http.client

    with LiveView(port=0) as view:
        conn = http.client.HTTPConnection("127.0.0.1", view.port, timeout=5)
        conn.request(method, "/stats", body=b"x" * 10)
        resp = conn.getresponse()
        assert (resp.status, resp.headers["Allow"]) == (405, "GET, HEAD")
        assert resp.headers["Content-Type"] == "text/plain" and b"GET and HEAD" in resp.read()
        conn.close()


def test_network_bind_is_warned_local_is_not(caplog):
    with caplog.at_level("WARNING", logger="demos.serve"):
        with LiveView(port=0) as view:
            assert view.local
        assert not caplog.records
        with LiveView(port=0, host="0.0.0.0") as view:
            assert not view.local
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "open to the network" in caplog.text and view.url in caplog.text


def test_kept_alive_connection_is_not_served_after_close():
    import http.client

    view = LiveView(port=0)
    conn = http.client.HTTPConnection("127.0.0.1", view.port, timeout=5)
    conn.request("GET", "/stats")  # HTTP/1.1: the connection stays open, as a polling page's does
    assert conn.getresponse().read()
    view.close()
    conn.request("GET", "/stats")
    resp = conn.getresponse()
    assert resp.status == 503 and resp.headers["Connection"] == "close" and resp.read() == b"live view closed"


@pytest.mark.parametrize("path", ["/frame.jpg", "/stream.mjpg"])
def test_client_leaving_mid_answer_is_no_traceback(path, caplog, capfd):
    import struct

    with LiveView(port=0) as view, caplog.at_level("DEBUG", logger="demos.serve"):
        view.publish(np.random.default_rng(0).integers(0, 256, (2160, 3840, 3), np.uint8))  # more than buffers hold
        client = socket.create_connection(("127.0.0.1", view.port))
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        client.recv(100)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        client.close()
        assert _wait(lambda: "left" in caplog.text, timeout=5)
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_stops_reading_is_dropped(caplog):
    big = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), np.uint8)  # each frame more than buffers hold
    with LiveView(port=0, client_timeout=1.0) as view, caplog.at_level("DEBUG", logger="demos.serve"):
        stalled = socket.create_connection(("127.0.0.1", view.port))
        stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
        silent = socket.create_connection(("127.0.0.1", view.port))  # sends no request at all
        end = time.monotonic() + 10
        while caplog.text.count("Request timed out") < 2 and time.monotonic() < end:
            view.publish(big)
            time.sleep(0.1)
        assert caplog.text.count("Request timed out") == 2, "the stalled and the silent clients were not dropped"
        silent.settimeout(5)
        assert silent.recv(100) == b""  # closed by the server
        stalled.close()
        silent.close()


def test_port_in_use_gives_clear_error():
    with LiveView(port=0) as view:
        with pytest.raises(OSError, match=f"cannot serve the live view on 127.0.0.1:{view.port}"):
            LiveView(port=view.port)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_host():
    with LiveView(port=0, host="::1") as view:
        assert view.url.startswith("http://[::1]:")
        assert json.loads(urllib.request.urlopen(view.url + "stats", timeout=5).read())["frames"] == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_every_interface_url_names_this_machine(host):
    """Served on every interface, the URL names this machine (``http://0.0.0.0:PORT/`` opens nothing)."""
    if host == "::" and not _ipv6_loopback():
        pytest.skip("no IPv6 on this machine")
    with LiveView(port=0, host=host) as view:
        assert view.every_interface and not view.local
        assert view.url == f"http://{socket.gethostname()}:{view.port}/"
    with LiveView(port=0) as view:
        assert not view.every_interface and view.url == f"http://127.0.0.1:{view.port}/"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture()
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium/chromedriver not installed (./setup.sh --test installs them)")
    from selenium import webdriver  # the dev extra installs it; only a missing browser is a reason to skip
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="lwpose-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


#: Script returning the <img>'s current frame as a data URL (drawn to a canvas), to see it change.
SNAP = ("const i = arguments[0], c = document.createElement('canvas'); c.width = i.naturalWidth;"
        "c.height = i.naturalHeight; c.getContext('2d').drawImage(i, 0, 0); return c.toDataURL();")


def _wait(predicate, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_page_in_headless_chromium_shows_frames_and_live_stats(browser):
    from selenium.webdriver.common.by import By

    with LiveView(port=0) as plain:  # stats without CPU load (not Linux): no CPU row
        plain.publish(_frame(0), fps=5.0, latency_ms=1.0, people=0)
        browser.get(plain.url)
        assert _wait(lambda: browser.find_element(By.ID, "frames").text == "1")
        assert not browser.find_element(By.ID, "cpu").is_displayed()
    with LiveView(port=0) as view, _FakeSource(view):
        browser.get(view.url)
        img = browser.find_element(By.ID, "view")
        assert _wait(lambda: browser.execute_script("return arguments[0].naturalWidth", img)) == 160
        assert browser.execute_script("return arguments[0].naturalHeight", img) == 120
        frames0 = int(_wait(lambda: int(browser.find_element(By.ID, "frames").text) > 0 and
                            browser.find_element(By.ID, "frames").text))
        panel0 = browser.find_element(By.ID, "panel").text
        assert "ms" in panel0
        assert _wait(lambda: int(browser.find_element(By.ID, "frames").text) > frames0 + 5), "frame counter stalled"
        assert _wait(lambda: browser.find_element(By.ID, "panel").text != panel0), "stats panel never changed"
        # the <img> itself keeps changing: its current MJPEG frame, drawn to a canvas, differs over time
        first = browser.execute_script(SNAP, img)
        assert _wait(lambda: browser.execute_script(SNAP, img) != first), "the streamed image never changed"
        fps_text = browser.find_element(By.ID, "fps").text
        assert 10.0 <= float(fps_text) <= 16.0
        cpu = browser.find_element(By.ID, "cpu")  # the CPU row shows once the stats carry the load
        assert cpu.is_displayed() and re.fullmatch(r"3[0-3]% / 70%", cpu.text), cpu.text
        assert "cpu_" not in browser.find_element(By.ID, "extra").text


def test_page_reconnects_the_stream_when_the_server_comes_back(browser):
    from selenium.webdriver.common.by import By

    with LiveView(port=0) as view:
        view.publish(_frame(0), fps=5.0, latency_ms=1.0, people=0)
        browser.get(view.url)
        img = browser.find_element(By.ID, "view")
        assert _wait(lambda: browser.execute_script("return arguments[0].naturalWidth", img)) == 160
        first = browser.execute_script(SNAP, img)
    # the demo stopped: the page says so
    assert _wait(lambda: browser.find_element(By.ID, "status").text == "stats unavailable")
    with LiveView(port=view.port) as again, _FakeSource(again):  # and restarted on the same port
        assert _wait(lambda: browser.find_element(By.ID, "status").text == "")
        assert _wait(lambda: browser.execute_script(SNAP, img) != first), "the image stayed frozen"
