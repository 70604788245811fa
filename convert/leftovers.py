"""Folders a conversion (or the quickstart) makes and removes itself (staging, scratch, the backup of the files it
replaces), named after their process, ``<pid>@<host>``, so that a later run can clean up those that ``kill -9`` or
a power cut left behind, and only those."""
from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from pathlib import Path

log = logging.getLogger(__name__)

#: the ``<pid>@<host>`` part of such a folder's name, as a regular expression with ``pid`` and ``host`` groups
OWNER_PATTERN = r"(?P<pid>\d+)@(?P<host>[\w.]+)"


def host_name() -> str:
    """This machine's name as a staging or scratch folder name holds it (no ``-``, ``@`` or ``/``)."""
    return re.sub(r"[^\w.]", "_", socket.gethostname())


def owner() -> str:
    """``<pid>@<host>``: this process as the names of its staging and scratch folders hold it."""
    return f"{os.getpid()}@{host_name()}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists (of any user). Always True on Windows, where ``os.kill(pid, 0)``
    is no probe (it sends CTRL_C_EVENT, and fails for a process that is gone): folders there are never taken."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def dead_runs(folder: Path, name: re.Pattern) -> list[tuple[Path, str]]:
    """``(path, pid)`` of the folders in ``folder`` whose names match ``name`` (with ``pid`` and ``host`` groups) and
    that a process of this machine made that no longer exists."""
    found = ((path, name.fullmatch(path.name)) for path in folder.iterdir())
    return [(path, m["pid"]) for path, m in found
            if m and path.is_dir() and m["host"] == host_name() and not process_alive(int(m["pid"]))]


def remove_dead_runs(folder: Path, name: re.Pattern, what: str, by: str = "a conversion") -> None:
    """Remove the :func:`dead_runs` folders in ``folder`` whose names match ``name``; ``what``: the kind of folder,
    ``by``: the kind of run that makes it, for the log."""
    for path, pid in dead_runs(folder, name):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():  # another user's folder stays
            log.info("removed %s: the %s folder of %s that was killed (process %s)", path, what, by, pid)
