"""demos.weights: real HTTP download against a local server, with resume, sha256 record and offline message."""
import hashlib
import io
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from demos import weights
from demos.weights import WeightsError, cached_checkpoint, download, verify

NAME = "checkpoint_iter_370000.pth"


def _torch_like_zip(seed: int = 0) -> bytes:
    """A zip laid out like a ``torch.save`` file (``archive/data.pkl`` plus a 3 MB stored tensor), without torch."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", np.random.default_rng(seed).integers(0, 256, 3 * (1 << 20) + 12345,
                                                                       dtype=np.uint8).tobytes())
    return buf.getvalue()


PAYLOAD = _torch_like_zip()
CHANGED = _torch_like_zip(seed=1)  # another version of the file, of the same size
HTML = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in</body></html>\n" * 20


class _Handler(BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; ``server.cut_after`` truncates the next response (a dropped connection)."""

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.requests.append(dict(self.headers))
        if not self.path.endswith((NAME, "/mirror/lwp.pth")):
            self.send_error(404)
            return
        if srv.html:  # a portal / error page served with HTTP 200 instead of the file
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(HTML)))
            self.end_headers()
            self.wfile.write(HTML)
            return
        payload = srv.payload
        start = 0
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and srv.ranges and (if_range in (None, srv.etag) or not srv.if_range):  # stale If-Range: whole file
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(payload):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(payload)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        else:
            self.send_response(200)
        body = payload[start:]
        if srv.etag:
            self.send_header("ETag", srv.etag)
        if srv.sized:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.close_connection = True  # the end of the body is the end of the connection
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
    srv.requests, srv.cut_after, srv.ranges, srv.html = [], None, True, False
    srv.payload, srv.etag, srv.sized, srv.if_range = PAYLOAD, '"v1"', True, True
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
    server.cut_after = 1000
    with pytest.raises(WeightsError, match="interrupted"):
        download(server.url, tmp_path, progress=False)
    (tmp_path / (NAME + ".part")).write_bytes(PAYLOAD)  # complete, but not yet checked and moved
    assert download(server.url, tmp_path, progress=False).read_bytes() == PAYLOAD
    assert server.requests[-1].get("Range") == f"bytes={len(PAYLOAD)}-"
    assert not (tmp_path / (NAME + ".part.json")).exists()


def test_a_resume_never_mixes_bytes_of_another_file(server, tmp_path):
    """A partial download of another URL starts again; a file changed on the server (new ETag) is fetched whole
    through If-Range rather than appended to the old version's bytes."""
    part = tmp_path / (NAME + ".part")
    server.cut_after = 500_000
    with pytest.raises(WeightsError, match="interrupted"):
        download(server.url.rsplit("/models/", 1)[0] + "/mirror/lwp.pth", tmp_path, progress=False)
    assert part.stat().st_size == 500_000
    path = download(server.url, tmp_path, progress=False)  # another URL: no Range
    assert "Range" not in server.requests[-1] and path.read_bytes() == PAYLOAD
    path.unlink()
    server.cut_after = 500_000
    with pytest.raises(WeightsError, match="interrupted"):
        download(server.url, tmp_path, progress=False)
    server.payload, server.etag = CHANGED + b"\0" * 10, '"v2"'  # the file changed (and its size)
    path = download(server.url, tmp_path, progress=False)
    assert server.requests[-1].get("If-Range") == '"v1"' and server.requests[-1].get("Range") == "bytes=500000-"
    assert path.read_bytes() == server.payload and verify(path).size == len(server.payload)


def test_a_changed_file_is_never_spliced_even_without_validators_or_if_range(server, tmp_path, caplog):
    """Without ETag/Last-Modified a resume cannot ask If-Range: the zip's CRCs catch the splice; a server that
    ignores If-Range but sends a new ETag is caught by comparing the ETags."""
    changed = CHANGED
    assert len(changed) == len(PAYLOAD)
    server.etag, server.cut_after = None, 1_000_000
    with pytest.raises(WeightsError, match="interrupted"):
        download(server.url, tmp_path, progress=False)
    server.payload = bytes(changed)
    with caplog.at_level(logging.WARNING, logger="demos.weights"):
        with pytest.raises(WeightsError, match="corrupt .*fails its CRC check.*removed"):
            download(server.url, tmp_path, progress=False)
    assert "gives no ETag or Last-Modified" in caplog.text
    assert not list(tmp_path.iterdir())  # nothing recorded, nothing kept
    assert download(server.url, tmp_path, progress=False).read_bytes() == server.payload  # a fresh download

    other = tmp_path / "other"
    server.payload, server.etag, server.if_range, server.cut_after = PAYLOAD, '"a"', False, 1_000_000
    with pytest.raises(WeightsError, match="interrupted"):
        download(server.url, other, progress=False)
    server.payload, server.etag = bytes(changed), '"b"'
    with pytest.raises(WeightsError, match='changed since the partial download \\("a" -> "b"\\)'):
        download(server.url, other, progress=False)
    assert download(server.url, other, progress=False).read_bytes() == server.payload


def test_a_server_without_size_that_closes_early_is_not_a_complete_file(server, tmp_path):
    server.sized, server.cut_after = False, 700_000
    with pytest.raises(WeightsError, match="without the end of the archive"):
        download(server.url, tmp_path, progress=False)
    assert not (tmp_path / NAME).exists() and not (tmp_path / (NAME + ".json")).exists()
    path = download(server.url, tmp_path, progress=False)  # resumed (the server answers ranges with a size)
    assert server.requests[-1].get("Range") == "bytes=700000-" and path.read_bytes() == PAYLOAD


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon"])
def test_timeout_must_be_a_positive_number(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as stop:
        weights.main(["download", "--dest", str(tmp_path), "--timeout", value])
    assert stop.value.code == 2 and "--timeout" in capsys.readouterr().err


def test_a_missing_local_file_is_not_called_offline(tmp_path, capsys):
    assert weights.main(["download", "--url", (tmp_path / "nope.pth").as_uri(), "--dest", str(tmp_path),
                         "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "cannot read file://" in err and "offline" not in err


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


def test_mirror_copy_is_saved_under_the_published_name(server, tmp_path, capsys):
    mirror = server.url.rsplit("/models/", 1)[0] + "/mirror/lwp.pth"
    assert weights.main(["download", "--url", mirror, "--dest", str(tmp_path), "--quiet"]) == 0
    assert weights.main(["path", "--dest", str(tmp_path)]) == 0  # found where path / the quickstart look
    assert capsys.readouterr().out.splitlines()[-1] == str(tmp_path / NAME)
    assert cached_checkpoint(tmp_path) == tmp_path / NAME
    assert download(mirror, tmp_path / "other", progress=False, file_name="mine.pth").name == "mine.pth"


@pytest.mark.parametrize("args, message", [
    (["--sha256", "abcd"], "is not a sha256 (64 hexadecimal digits)"),
    (["--url", "notaurl"], "is not an http(s):// or file:// address"),
    (["--file", "../x.pth"], "must be a plain file name"),
])
def test_bad_download_arguments_are_usage_errors_before_the_network(server, tmp_path, capsys, args, message):
    n = len(server.requests)
    with pytest.raises(SystemExit) as stop:
        weights.main(["download", "--url", server.url, "--dest", str(tmp_path / "d"), "--quiet", *args])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("usage: lwpose-weights download")
    assert message in err and len(server.requests) == n


@pytest.mark.parametrize("command", ["path", "verify"])
def test_bad_file_name_of_path_and_verify_is_a_usage_error(tmp_path, capsys, command):
    with pytest.raises(SystemExit) as stop:
        weights.main([command, "--dest", str(tmp_path), "--file", "../x.pth"])
    assert stop.value.code == 2 and "must be a plain file name" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["download", "path", "verify"])
def test_empty_dest_is_a_usage_error_not_the_current_folder(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        weights.main([command, "--dest", ""])
    assert stop.value.code == 2 and "--dest: empty: give a folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_dest_that_is_a_file_fails_before_the_network(server, tmp_path, capsys):
    n = len(server.requests)
    assert weights.main(["download", "--url", server.url, "--dest", __file__, "--quiet"]) == 1
    assert "it is a file, not a folder" in capsys.readouterr().err and len(server.requests) == n


def test_a_failed_download_removes_the_dest_folders_it_made(server, tmp_path, capsys):
    """An HTTP 404 left the empty --dest folder (and parents) it had created; a folder that was there is kept."""
    missing = server.url.replace(NAME, "missing.pth")
    assert weights.main(["download", "--url", missing, "--dest", str(tmp_path / "a" / "b"), "--quiet"]) == 1
    assert "HTTP 404" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
    with pytest.raises(WeightsError, match="HTTP 404"):
        download(missing, tmp_path / "kept", progress=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    with pytest.raises(WeightsError, match="HTTP 404"):
        download(missing, tmp_path / "kept", progress=False)
    assert (tmp_path / "kept").is_dir()


def test_pasted_sha256_is_normalised(server, tmp_path):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = download(server.url, tmp_path, expected_sha256=f"  {digest.upper()}\n", progress=False)
    assert path.read_bytes() == PAYLOAD  # a correct hash with spaces / capitals no longer deletes a good file


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


def test_html_page_with_http_200_is_not_recorded_as_a_checkpoint(server, tmp_path, capsys):
    server.html = True
    with pytest.raises(WeightsError) as err:
        download(server.url, tmp_path, progress=False)
    message = str(err.value)
    assert "did not send a PyTorch checkpoint" in message and f"{len(HTML)} bytes" in message
    assert "text/html" in message and "<!DOCTYPE html>" in message and NAME + ".bad" in message
    assert not (tmp_path / NAME).exists() and not (tmp_path / (NAME + ".json")).exists()
    assert not (tmp_path / (NAME + ".part")).exists()
    assert (tmp_path / (NAME + ".bad")).read_bytes() == HTML
    assert cached_checkpoint(tmp_path) is None
    # the CLI says it in one line, exit status 1
    assert weights.main(["download", "--url", server.url, "--dest", str(tmp_path), "--quiet"]) == 1
    err_text = capsys.readouterr().err
    assert "did not send a PyTorch checkpoint" in err_text and "Traceback" not in err_text
    # the real file afterwards is downloaded and recorded as usual
    server.html = False
    path = download(server.url, tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD and verify(path).size == len(PAYLOAD)


def test_verify_and_cache_refuse_a_recorded_non_checkpoint(server, tmp_path, capsys):
    """An HTML body recorded with a matching sha256 (as an older lwpose-weights did) is refused on every use and
    replaced by the next download."""
    path = tmp_path / NAME
    path.write_bytes(HTML)
    record = {"url": server.url, "file": NAME, "size": len(HTML), "sha256": hashlib.sha256(HTML).hexdigest(),
              "downloaded_at": "2024-01-01T00:00:00Z"}
    (tmp_path / (NAME + ".json")).write_text(json.dumps(record))
    with pytest.raises(WeightsError, match="is not a PyTorch checkpoint .*<!DOCTYPE html>"):
        verify(path)
    assert cached_checkpoint(tmp_path) is None
    assert weights.main(["verify", "--dest", str(tmp_path)]) == 1
    assert "not a PyTorch checkpoint" in capsys.readouterr().err
    assert download(server.url, tmp_path, progress=False) == path
    assert path.read_bytes() == PAYLOAD and cached_checkpoint(tmp_path) == path


def test_checkpoint_magic_bytes(tmp_path, seed_dir):
    from demos.weights import checkpoint_problem

    assert checkpoint_problem(seed_dir / "checkpoint.pth") is None  # a torch.save zip
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.")  # the legacy torch.save magic number pickle
    assert checkpoint_problem(legacy) is None
    for body in (b"", b"{\"error\": \"not found\"}", b"\x80"):
        bad = tmp_path / "bad.pth"
        bad.write_bytes(body)
        assert checkpoint_problem(bad) == f"{len(body)} bytes starting with {body!r}"


@pytest.mark.skipif(not Path("/dev/full").exists() or not Path("/proc/self").is_dir(), reason="Linux /dev/full, /proc")
def test_a_folder_that_cannot_be_written_is_a_clear_error_not_a_network_one(server, tmp_path, capsys):
    """A full disk is not a dropped connection ('interrupted ... resume' blamed the network), and a --dest where no
    file can be created is one error line (it was a traceback from writing the partial download's record)."""
    (tmp_path / (NAME + ".part")).symlink_to("/dev/full")  # every write: ENOSPC
    (tmp_path / (NAME + ".part.json")).write_text(json.dumps({"url": server.url}))
    with pytest.raises(WeightsError) as caught:
        download(server.url, tmp_path, progress=False)
    message = str(caught.value)
    assert "cannot write" in message and "No space left" in message and "interrupted" not in message
    assert weights.main(["download", "--url", server.url, "--dest", "/proc/self", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "/proc/self" in err and "offline" not in err


def test_a_cached_file_of_another_sha256_says_what_to_do(server, tmp_path, capsys):
    """WeightsError's promise, 'the message says what to do next', held for every error but this one: a verified
    cached file that --sha256 does not match named both hashes only. --force then replaces it."""
    download(server.url, tmp_path, progress=False)
    server.payload = CHANGED
    digest = hashlib.sha256(CHANGED).hexdigest()
    assert weights.main(["download", "--url", server.url, "--dest", str(tmp_path), "--sha256", digest,
                         "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "expected " + digest in err and "--force" in err and "--sha256" in err
    assert weights.main(["download", "--url", server.url, "--dest", str(tmp_path), "--sha256", digest, "--force",
                         "--quiet"]) == 0
    assert (tmp_path / NAME).read_bytes() == CHANGED and verify(tmp_path / NAME).sha256 == digest
