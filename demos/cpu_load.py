"""CPU utilisation of this process and of the whole machine, in percent, read from Linux ``/proc`` (no psutil).

Two counters, both in clock ticks (``USER_HZ``, usually 1/100 s):

- ``/proc/stat``, first line ``cpu user nice system idle iowait irq softirq steal ...``: time of all cores together;
  busy = total - (idle + iowait). ``guest`` / ``guest_nice`` are already inside ``user`` / ``nice``, so only the
  first eight fields are summed.
- ``/proc/self/stat``: this process's ``utime`` + ``stime`` (fields 14 and 15; parsed after the last ``)`` since the
  command name may hold spaces and parentheses), all its threads together.

Percentages are over the interval between two readings, both relative to the whole machine (100 % = every core
busy): ``process_percent`` = process ticks / all-core ticks, ``system_percent`` = busy ticks / all-core ticks. On
another OS (or when ``/proc`` cannot be read) :class:`CpuLoadReader` is unavailable and returns ``None``: the demo
then shows nothing.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["CpuLoad", "CpuTimes", "CpuLoadReader", "parse_proc_stat", "parse_self_stat", "cpu_load_between"]


@dataclass(frozen=True)
class CpuTimes:
    """One reading, in clock ticks: ``total`` and ``idle`` (idle + iowait) of all cores, ``process`` (this process's
    user + system time)."""

    total: int
    idle: int
    process: int


@dataclass(frozen=True)
class CpuLoad:
    """CPU utilisation over an interval, percent of the whole machine (0..100; 100 = every core busy):
    ``process_percent`` for this process (all its threads), ``system_percent`` for everything running."""

    process_percent: float
    system_percent: float

    def text(self) -> str:
        """One overlay line, e.g. ``"CPU: 35% process, 80% machine"``."""
        return f"CPU: {self.process_percent:.0f}% process, {self.system_percent:.0f}% machine"

    def as_dict(self) -> dict[str, float]:
        """``{"cpu_process_percent": ..., "cpu_system_percent": ...}`` rounded to 0.1 (the web stats fields)."""
        return {"cpu_process_percent": round(self.process_percent, 1),
                "cpu_system_percent": round(self.system_percent, 1)}


def parse_proc_stat(text: str) -> tuple[int, int]:
    """``(total, idle)`` clock ticks of all cores from ``/proc/stat`` text (its aggregate ``cpu`` line).

    Raises ``ValueError`` when there is no ``cpu`` line with at least four numbers."""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1:9]]
            if len(values) < 4:
                break
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            return sum(values), idle
    raise ValueError("no aggregate 'cpu' line with user nice system idle ... ticks in /proc/stat")


def parse_self_stat(text: str) -> int:
    """This process's ``utime + stime`` clock ticks from ``/proc/self/stat`` text; ``ValueError`` if malformed."""
    _, sep, rest = text.rpartition(")")
    fields = rest.split()
    if not sep or len(fields) < 13:
        raise ValueError("malformed /proc/self/stat: expected 'pid (comm) state ...' with utime and stime")
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of the line; fields[0] is field 3 (state)


def cpu_load_between(before: CpuTimes, after: CpuTimes) -> CpuLoad | None:
    """The :class:`CpuLoad` between two readings; ``None`` when no clock tick passed in between."""
    total = after.total - before.total
    if total <= 0:
        return None
    busy = total - (after.idle - before.idle)
    process = after.process - before.process

    def pct(ticks: int) -> float:
        return min(100.0, max(0.0, 100.0 * ticks / total))

    return CpuLoad(process_percent=pct(process), system_percent=pct(busy))


class CpuLoadReader:
    """Reads :class:`CpuLoad` from ``proc`` (default ``/proc``), at most once per ``min_interval`` seconds.

    :meth:`sample` returns the load since the previous reading, and between readings the last value (so calling it
    every frame costs nothing); ``None`` until a first interval has passed, and always ``None`` when
    :attr:`available` is false (not Linux, or ``/proc`` unreadable). :meth:`since_start` is the average since the
    reader was made. ``clock`` returns seconds (``time.monotonic``; a fake one in tests).
    """

    def __init__(self, min_interval: float = 0.5, proc: str | Path = "/proc",
                 clock: Callable[[], float] = time.monotonic):
        self.min_interval = float(min_interval)
        self.proc = Path(proc)
        self.clock = clock
        linux = sys.platform.startswith("linux")
        self._start = self._previous = self.read() if linux else None
        self.available = self._start is not None
        self._previous_time = clock()
        self._last: CpuLoad | None = None

    def read(self) -> CpuTimes | None:
        """One raw reading (clock ticks), or ``None`` when ``/proc`` cannot be read or parsed."""
        try:
            total, idle = parse_proc_stat((self.proc / "stat").read_text())
            process = parse_self_stat((self.proc / "self" / "stat").read_text())
        except (OSError, ValueError):
            return None
        return CpuTimes(total, idle, process)

    def sample(self) -> CpuLoad | None:
        """The load over the last interval of at least ``min_interval`` seconds (see the class docstring)."""
        if not self.available:
            return None
        now = self.clock()
        if now - self._previous_time < self.min_interval:
            return self._last
        current = self.read()
        if current is None or self._previous is None:
            return self._last
        load = cpu_load_between(self._previous, current)
        if load is not None:  # no tick yet: keep the old baseline and value
            self._previous, self._previous_time, self._last = current, now, load
        return self._last

    def since_start(self) -> CpuLoad | None:
        """The average load since the reader was made (``None`` when unavailable or no tick passed)."""
        if not self.available or self._start is None:
            return None
        current = self.read()
        return None if current is None else cpu_load_between(self._start, current)
