"""Fetch the published Lightweight OpenPose checkpoint into the user's cache, resumably, and check it on use.

``lwpose-weights download [--url U] [--dest DIR] [--sha256 HEX]`` (also ``python -m demos.weights``) downloads
with plain ``urllib`` to ``DIR/<file>.part`` and resumes an interrupted download with an HTTP ``Range`` request
(``If-Range`` with the server's ETag or Last-Modified, and ``<file>.part.json`` recording the URL and size, so bytes
of another file or of a changed one are never appended).
When the file is complete it must start like a ``torch.save`` file (a zip archive or a pickle; an HTML error page
served with HTTP 200 is set aside as ``<file>.bad`` and reported), then its sha256 is computed and recorded in a
sidecar ``<file>.json``; ``lwpose-weights path`` and ``lwpose-weights verify`` (and :func:`cached_checkpoint`, used
by the quickstart) recheck both. The check reads the first bytes only: this module never imports torch.
The default folder is ``$XDG_CACHE_HOME/lwpose`` (``~/.cache/lwpose`` when the variable is unset).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from http.client import HTTPException
from pathlib import Path

from pose_format import (PUBLISHED_CHECKPOINT_FILE, PUBLISHED_CHECKPOINT_URL, sha256_file, starts_like_torch_file,
                         write_text_atomic)
from pose_format.cli_types import add_version_argument, folder_type, seconds_type

__all__ = [
    "WeightsError", "WeightsRecord", "cache_dir", "download", "verify", "cached_checkpoint", "checkpoint_problem",
    "main",
]

log = logging.getLogger(__name__)
_CHUNK = 1 << 20
#: Bytes of a file shown in the error when it is not a checkpoint.
_HEAD_SHOWN = 24


class WeightsError(RuntimeError):
    """A download or verification failed; the message says what to do next."""


class ArgumentsError(WeightsError):
    """A value given to :func:`download` (a command-line option) is malformed; found before any network access, and
    a usage error of ``lwpose-weights`` (exit status 2 with its usage line, as argparse's own)."""


@dataclass
class WeightsRecord:
    """The sidecar ``<file>.json`` written next to a completed download."""

    url: str
    file: str
    size: int
    sha256: str
    downloaded_at: str


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/lwpose`` or ``~/.cache/lwpose`` (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lwpose"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def normalize_sha256(text: str | None) -> str | None:
    """``text`` as 64 lower-case hex digits (spaces around it dropped), or None; raises :class:`WeightsError` for
    anything else, before any download."""
    if text is None:
        return None
    digest = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ArgumentsError(f"--sha256 {text!r} is not a sha256 (64 hexadecimal digits)")
    return digest


def _check_url(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise ArgumentsError(f"--url {url!r} is not an http(s):// or file:// address")


def _check_file_name(name: str) -> None:
    """Raise :class:`ArgumentsError` unless ``name`` is a plain file name (no folder part, not ``.`` or ``..``)."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise ArgumentsError(f"--file {name!r} must be a plain file name")


def checkpoint_problem(path: str | Path) -> str | None:
    """``None`` when ``path`` starts like a ``torch.save`` file - a zip archive (``PK\\x03\\x04``, PyTorch >= 1.6) or
    a pickle of protocol 2 to 5 (``\\x80\\x02``.., the legacy format of the published file) - else what it holds
    instead: its size and first bytes. Magic bytes only, so no torch import."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_SHOWN)
    if starts_like_torch_file(head):
        return None
    return f"{path.stat().st_size} bytes starting with {head!r}"


def _progress(total: int | None, initial: int, name: str, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is in the demos extra; the download works without it
        return None
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=not enabled, leave=True)


def _total_from(resp, offset: int) -> int | None:
    """Full file size from a 206 ``Content-Range`` or a 200 ``Content-Length``."""
    cr = resp.headers.get("Content-Range")
    if cr:
        m = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", cr)
        if not m or int(m.group(1)) != offset:
            raise WeightsError(f"server answered a resume from byte {offset} with Content-Range {cr!r}")
        return int(m.group(3)) if m.group(3) != "*" else None
    length = resp.headers.get("Content-Length")
    return int(length) + offset if length is not None else None


def _origin_file(part: Path) -> Path:
    """``<file>.part.json``: where a partial download came from (URL, ETag or Last-Modified, full size), so that a
    resume never appends bytes of another file or of another version of it."""
    return part.with_name(part.name + ".json")


def _discard_partial(part: Path) -> None:
    """Remove a partial download and its origin record (nothing of it can be resumed)."""
    part.unlink(missing_ok=True)
    _origin_file(part).unlink(missing_ok=True)


def _starts_as_zip(path: Path) -> bool:
    """Whether ``path`` starts with a zip local-file header (a ``torch.save`` file since PyTorch 1.6)."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def _read_origin(origin: Path) -> dict:
    try:
        data = json.loads(origin.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _validator(resp) -> str | None:
    """The response's strong ETag, else its Last-Modified date (what ``If-Range`` accepts), else ``None``."""
    etag = resp.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return resp.headers.get("Last-Modified")


def _resume_point(part: Path, url: str) -> tuple[int, str | None]:
    """``(bytes to resume from, If-Range validator)`` for ``part``; a partial file of another URL, or of unknown
    origin, is removed (0: download from the start)."""
    if not part.exists():
        return 0, None
    origin = _read_origin(_origin_file(part))
    if origin.get("url") != url:
        log.info("the partial %s is of %s, not %s: downloading from the start", part.name,
                 origin.get("url") or "an unknown source", url)
        _discard_partial(part)
        return 0, None
    return part.stat().st_size, origin.get("validator")


def _zip_problem(path: Path) -> str | None:
    """For a zip checkpoint (``torch.save`` since PyTorch 1.6): what is wrong with its archive (a member whose CRC
    does not match, no central directory), else ``None``; other files are not checked here."""
    import zipfile

    if not _starts_as_zip(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"not a readable zip archive: {exc}"
    return f"member {bad} fails its CRC check" if bad is not None else None


def _check_unsized(part: Path, url: str, expected_sha256: str | None) -> None:
    """A server that announced no size cannot say whether the connection closed early: a zip checkpoint must end
    with its central directory; any other file is accepted with a warning unless a sha256 will check it."""
    import zipfile

    is_zip = _starts_as_zip(part)
    if is_zip and not zipfile.is_zipfile(part):
        raise WeightsError(f"download of {url} ended after {part.stat().st_size} bytes without the end of the "
                           f"archive (the server sent no size and closed early); run it again to resume from {part}")
    if not is_zip and expected_sha256 is None:
        log.warning("%s sent no file size: the download cannot be checked for completeness; pass --sha256 to "
                    "check it", url)


def download(
    url: str = PUBLISHED_CHECKPOINT_URL,
    dest: str | Path | None = None,
    expected_sha256: str | None = None,
    timeout: float = 30.0,
    progress: bool = True,
    force: bool = False,
    file_name: str = PUBLISHED_CHECKPOINT_FILE,
) -> Path:
    """Download ``url`` into ``dest/file_name`` (default folder :func:`cache_dir`, default name the published
    file's, whatever the URL's last part: a mirror's copy is found by ``path`` / ``verify`` and the quickstart) and
    return the completed file's path.

    Resumes from ``<file>.part`` of the same URL with ``Range: bytes=N-`` and ``If-Range`` (a partial file of another
    URL is discarded; falls back to a full download when the server ignores
    ranges). An already-complete, verified file is returned without network access unless ``force``. On success the
    sha256 is recorded in ``<file>.json``; a mismatch with ``expected_sha256`` removes the file and raises.
    Network failures raise :class:`WeightsError` with a clear message, keeping the partial file for a later resume;
    the folders made for ``dest`` are removed when a failure leaves them empty (an HTTP 404, a server not reached).
    """
    from ov_inference.output_paths import make_folders, remove_empty_folders

    expected_sha256 = normalize_sha256(expected_sha256)
    _check_url(url)
    _check_file_name(file_name)
    dest = Path(dest) if dest is not None else cache_dir()
    try:
        created = make_folders(dest)
    except OSError as e:
        raise WeightsError(f"cannot use --dest {dest}: "
                           f"{'it is a file, not a folder' if dest.is_file() else e.strerror or e}") from None
    try:
        return _fetch(url, dest / file_name, expected_sha256, timeout, progress, force)
    except BaseException:  # Ctrl+C too; a folder holding a partial file for a resume is kept
        remove_empty_folders(created)
        raise


def _fetch(url: str, final: Path, expected_sha256: str | None, timeout: float, progress: bool, force: bool) -> Path:
    """:func:`download`'s work once the folder of ``final`` exists: reuse, resume or download ``final``."""
    part = final.with_name(final.name + ".part")
    if final.exists() and not force:
        try:
            record = verify(final)
        except WeightsError as e:
            log.warning("%s; downloading it again", e)
        else:
            if expected_sha256 and record.sha256 != expected_sha256:
                raise WeightsError(f"{final} has sha256 {record.sha256}, expected {expected_sha256}: check the "
                                   "--sha256 value, or pass --force to download the file again")
            log.info("already downloaded and verified: %s", final)
            return final
    origin = _origin_file(part)
    if force:
        _discard_partial(part)
    offset, validator = _resume_point(part, url)
    request = urllib.request.Request(url, headers={"User-Agent": "lwpose-weights"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        if validator:  # the server sends the whole (changed) file instead of a range of another version
            request.add_header("If-Range", validator)
        log.info("resuming %s from byte %d", final.name, offset)
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # our .part already holds everything (or is bogus): check its size
            m = re.search(r"/(\d+)", e.headers.get("Content-Range", "") or "")
            if m and int(m.group(1)) == offset:
                return _finish(part, final, url, expected_sha256)
            _discard_partial(part)
            raise WeightsError(f"server refused resuming {final.name} at byte {offset}; "
                               "the partial file was removed, run the download again") from None
        raise WeightsError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, socket.timeout, OSError, HTTPException) as e:
        reason = getattr(e, "reason", e)
        if urllib.parse.urlsplit(url).scheme.lower() == "file":
            raise WeightsError(f"cannot read {url}: {getattr(reason, 'strerror', None) or reason}") from None
        raise WeightsError(
            f"cannot reach {url} ({reason}). You seem to be offline or the server is unreachable; "
            f"check the connection (or a proxy via https_proxy) and run `lwpose-weights download` again"
            + (f" - it resumes from the {offset} bytes kept in {part}" if offset else "")
            + ". Without the published weights, `lwpose-quickstart` trains a small model itself."
        ) from None

    with resp:
        content_type = resp.headers.get("Content-Type")
        if offset and resp.status != 206:
            log.info("server sent the whole file (HTTP %d: no range support, or the file changed since the partial "
                     "download); downloading from the start", resp.status)
            offset = 0
        total = _total_from(resp, offset)
        if offset:
            recorded = _read_origin(origin).get("total")
            now = _validator(resp)
            if validator and now and now != validator:  # a server that ignores If-Range but says it changed
                _discard_partial(part)
                raise WeightsError(f"{url} changed since the partial download ({validator} -> {now}): the partial "
                                   "file was removed, run the download again")
            if not validator:
                log.warning("%s gives no ETag or Last-Modified: the resumed bytes cannot be checked against a "
                            "changed file (a zip checkpoint's CRCs are checked at the end; pass --sha256 to be "
                            "sure)", url)
            if recorded is not None and total is not None and recorded != total:
                _discard_partial(part)
                raise WeightsError(f"{url} is now {total} bytes, the partial download was of a {recorded}-byte file: "
                                   "the partial file was removed, run the download again")
        else:
            try:
                write_text_atomic(origin, json.dumps({"url": url, "validator": _validator(resp), "total": total})
                                  + "\n")
            except OSError as e:
                raise _write_error(origin, e) from None
        bar = _progress(total, offset, final.name, progress)
        received = offset
        read = getattr(resp, "read1", resp.read)  # what arrived so far: a stalled transfer keeps every byte received
        try:
            with open(part, "ab" if offset else "wb") as f:
                while True:
                    try:
                        chunk = read(_CHUNK)
                    except (OSError, HTTPException) as e:
                        raise WeightsError(f"download of {url} interrupted at {received} bytes ({e}); run it again "
                                           f"to resume from {part}") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        except OSError as e:  # the local file (the network's errors are WeightsError above): a full or read-only disk
            raise _write_error(part, e) from None
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received != total:
        raise WeightsError(
            f"download of {url} interrupted at {received} of {total} bytes; run it again to resume from {part}"
        )
    if total is None:
        _check_unsized(part, url, expected_sha256)
    return _finish(part, final, url, expected_sha256, content_type)


def _write_error(path: Path, exc: OSError) -> WeightsError:
    """The error for a file of the download that cannot be written here (a full disk, a read-only ``--dest``): a
    local problem, not the network's, so it says what to fix rather than to retry."""
    return WeightsError(f"cannot write {path}: {exc.strerror or exc}; free some space or give a writable --dest, "
                        "then run the download again (it resumes from the bytes kept)")


def _finish(part: Path, final: Path, url: str, expected_sha256: str | None, content_type: str | None = None) -> Path:
    """Check the completed ``part`` (a checkpoint at all, then ``expected_sha256``), move it to ``final`` and write
    its sha256 record. A body that is not a checkpoint is moved to ``<file>.bad`` and never recorded."""
    problem = checkpoint_problem(part)
    if problem is None:
        problem = _zip_problem(part)
        if problem is not None:  # spliced or corrupt bytes of a real checkpoint: start again, keep nothing
            _discard_partial(part)
            raise WeightsError(f"downloaded {final.name} is corrupt ({problem}): the file was removed, run the "
                               "download again")
    if problem is not None:
        bad = final.with_name(final.name + ".bad")
        os.replace(part, bad)
        _origin_file(part).unlink(missing_ok=True)
        kind = f"Content-Type {content_type}" if content_type else "no Content-Type"
        raise WeightsError(f"{url} did not send a PyTorch checkpoint: {problem} ({kind}); an error or login page? "
                           f"Nothing was recorded and the body was kept aside as {bad}. Check the URL and run "
                           "`lwpose-weights download` again")
    digest = sha256_file(part)
    if expected_sha256 and digest != expected_sha256:
        _discard_partial(part)
        raise WeightsError(f"downloaded {final.name} has sha256 {digest}, expected {expected_sha256}; "
                           "the file was removed, run the download again")
    os.replace(part, final)
    _origin_file(part).unlink(missing_ok=True)
    record = WeightsRecord(url=url, file=final.name, size=final.stat().st_size, sha256=digest,
                           downloaded_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    write_text_atomic(_sidecar(final), json.dumps(asdict(record), indent=2) + "\n")
    log.info("saved %s (%d bytes, sha256 %s)", final, record.size, digest)
    return final


def verify(path: str | Path) -> WeightsRecord:
    """Recompute a downloaded file's sha256 and check it against its sidecar, and that the file starts like a
    PyTorch checkpoint (:func:`checkpoint_problem`); return the record or raise :class:`WeightsError`."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path} does not exist; run `lwpose-weights download` first")
    side = _sidecar(path)
    if not side.is_file():
        raise WeightsError(f"{path} has no sha256 record ({side.name}); run `lwpose-weights download --force`")
    try:
        record = WeightsRecord(**json.loads(side.read_text()))
    except (ValueError, TypeError) as e:
        raise WeightsError(f"unreadable sha256 record {side}: {e}") from None
    size = path.stat().st_size
    if size != record.size:
        raise WeightsError(f"{path} is {size} bytes, its record says {record.size}: the file changed or is truncated")
    problem = checkpoint_problem(path)
    if problem is not None:
        raise WeightsError(f"{path} is not a PyTorch checkpoint ({problem}), whatever its sha256 record says; "
                           "run `lwpose-weights download --force`")
    digest = sha256_file(path)
    if digest != record.sha256:
        raise WeightsError(f"{path} has sha256 {digest}, its record says {record.sha256}: the file is corrupt")
    return record


def cached_checkpoint(dest: str | Path | None = None, name: str = PUBLISHED_CHECKPOINT_FILE) -> Path | None:
    """The verified published checkpoint in ``dest`` (default :func:`cache_dir`), or ``None`` when absent or bad."""
    path = (Path(dest) if dest is not None else cache_dir()) / name
    if not path.exists():
        return None
    try:
        verify(path)
    except WeightsError as e:
        log.warning("ignoring cached checkpoint: %s", e)
        return None
    return path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lwpose-weights",
        description="Download the published Lightweight OpenPose checkpoint to the cache and check its sha256.",
    )
    add_version_argument(p)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="download (or resume) the checkpoint and record its sha256")
    d.add_argument("--url", default=PUBLISHED_CHECKPOINT_URL, help="source URL (default: the authors' published file)")
    d.add_argument("--dest", type=folder_type, default=None, help=f"folder (default: {cache_dir()})")
    d.add_argument("--sha256", default=None,
                   help="expected sha256 (checked before downloading); a new download that does not match is deleted, "
                        "a cached file that does not match is an error")
    d.add_argument("--file", default=PUBLISHED_CHECKPOINT_FILE,
                   help=f"file name in the folder, whatever the URL's (default {PUBLISHED_CHECKPOINT_FILE})")
    d.add_argument("--timeout", type=seconds_type(allow_zero=False), default=30.0,
                   help="network timeout, seconds (> 0)")
    d.add_argument("--force", action="store_true", help="download again even when a verified file exists")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(usage_error=d.error)
    for name, text in (("path", "print the verified checkpoint's path"), ("verify", "recheck the sha256 and print it")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--dest", type=folder_type, default=None, help=f"folder (default: {cache_dir()})")
        s.add_argument("--file", default=PUBLISHED_CHECKPOINT_FILE, help="file name in the folder")
        s.add_argument("--json", action="store_true", help="print the sha256 record as JSON")
        s.set_defaults(usage_error=s.error)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "download":
            path = download(args.url, args.dest, args.sha256, args.timeout, progress=not args.quiet, force=args.force,
                            file_name=args.file)
            print(path)
        else:
            _check_file_name(args.file)
            path = (args.dest if args.dest is not None else cache_dir()) / args.file
            record = verify(path)
            if args.json:
                print(json.dumps({"path": str(path), **asdict(record)}, indent=2))
            elif args.command == "path":
                print(path)
            else:
                print(f"{path}: OK sha256 {record.sha256} ({record.size} bytes)")
    except ArgumentsError as e:
        args.usage_error(str(e))  # exits 2 with the subcommand's usage line
    except WeightsError as e:
        print(f"lwpose-weights: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lwpose-weights: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
