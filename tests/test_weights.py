"""demos.weights: real HTTP download against a local server, with resume, sha256 record and offline message."""
import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from demos import weights
from demos.weights import WeightsError, cached_checkpoint, download, verify

PAYLOAD = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 12345, dtype=np.uint8).tobytes()
NAME = "checkpoint_iter_370000.pth"


class _Handler(BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; ``server.cut_after`` truncates the next response (a dropped connection)."""

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.requests.append(dict(self.headers))
        if not self.path.endswith(NAME):
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.ranges:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.cut_after is not None:
            body, srv.cut_after = body[: srv.cut_after], None
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.requests, srv.cut_after, srv.ranges = [], None, True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/models/{NAME}"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_download_records_sha256_and_reuses_verified_file(server, tmp_path):
    path = download(server.url, tmp_path, progress=False)
    assert path == tmp_path / NAME and path.read_bytes() == PAYLOAD
    record = json.loads((tmp_path / (NAME + ".json")).read_text())
    assert record["sha256"] == hashlib.sha256(PAYLOAD).hexdigest() and record["size"] == len(PAYLOAD)
    assert record["url"] == server.url
    assert verify(path).sha256 == record["sha256"]
    assert cached_checkpoint(tmp_path) == path
    n = len(server.requests)
    assert download(server.url, tmp_path, progress=False) == path
    assert len(server.requests) == n, "a verified file must not be downloaded again"


def test_interrupted_download_resumes_with_range(server, tmp_path):
    server.cut_after = 1_000_000
    with pytest.raises(WeightsError, match="interrupted at 1000000 of .* resume"):
        download(server.url, tmp_path, progress=False)
    part = tmp_path / (NAME + ".part")
    assert part.stat().st_size == 1_000_000 and not (tmp_path / NAME).exists()
    path = download(server.url, tmp_path, progress=False)
    assert server.requests[-1].get("Range") == "bytes=1000000-"
    assert path.read_bytes() == PAYLOAD and not part.exists()
    assert verify(path).sha256 == hashlib.sha256(PAYLOAD).hexdigest()


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    server.ranges = False
    (tmp_path / (NAME + ".part")).write_bytes(b"garbage" * 10)
    path = download(server.url, tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_on_416(server, tmp_path):
    (tmp_path / (NAME + ".part")).write_bytes(PAYLOAD)
    assert download(server.url, tmp_path, progress=False).read_bytes() == PAYLOAD


def test_sha256_mismatch_and_corruption_are_caught(server, tmp_path):
    with pytest.raises(WeightsError, match="expected 00"):
        download(server.url, tmp_path, expected_sha256="00" * 32, progress=False)
    assert not (tmp_path / NAME).exists() and not (tmp_path / (NAME + ".part")).exists()
    path = download(server.url, tmp_path, progress=False)
    data = bytearray(PAYLOAD)
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt"):
        verify(path)
    assert cached_checkpoint(tmp_path) is None
    path.write_bytes(PAYLOAD[:10])
    with pytest.raises(WeightsError, match="truncated"):
        verify(path)


def test_offline_gives_clear_message_not_traceback(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{NAME}"
    with pytest.raises(WeightsError, match="offline"):
        download(url, tmp_path, timeout=5, progress=False)
    proc = subprocess.run([sys.executable, "-m", "demos.weights", "download", "--url", url, "--dest", str(tmp_path),
                           "--quiet", "--timeout", "5"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "offline" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_download_path_verify_and_xdg_cache(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "xdg" / "lwpose"
    assert weights.main(["download", "--url", server.url, "--quiet"]) == 0
    expected = tmp_path / "xdg" / "lwpose" / NAME
    assert capsys.readouterr().out.strip() == str(expected)
    assert weights.main(["path"]) == 0
    assert capsys.readouterr().out.strip() == str(expected)
    assert weights.main(["verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert weights.main(["path", "--file", "missing.pth"]) == 1
    assert "lwpose-weights download" in capsys.readouterr().err
