"""demos.cpu_load: process and machine CPU load from /proc (fake /proc text, and a real read on Linux)."""
import sys
import time

import pytest

from demos.cpu_load import CpuLoad, CpuLoadReader, CpuTimes, cpu_load_between, parse_proc_stat, parse_self_stat

# user nice system idle iowait irq softirq steal guest guest_nice
PROC_STAT = "cpu  {busy} 0 0 {idle} {iowait} 0 0 0 7 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 123 4 5\n"
SELF_STAT = ("4242 (py thon) (x)) R 1 4242 4242 0 -1 4194304 100 0 0 0 {utime} {stime} 0 0 20 0 3 0 100 1000 "
             "200 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")


def _write(proc, busy, idle, iowait, utime, stime):
    (proc / "stat").write_text(PROC_STAT.format(busy=busy, idle=idle, iowait=iowait))
    (proc / "self").mkdir(exist_ok=True)
    (proc / "self" / "stat").write_text(SELF_STAT.format(utime=utime, stime=stime))


def test_parsers_on_fake_proc_text():
    # total = first 8 fields (guest is inside user already); idle = idle + iowait
    assert parse_proc_stat(PROC_STAT.format(busy=100, idle=300, iowait=50)) == (450, 350)
    # a command name with spaces and parentheses: fields are counted after the last ")"
    assert parse_self_stat(SELF_STAT.format(utime=30, stime=12)) == 42
    with pytest.raises(ValueError, match="cpu"):
        parse_proc_stat("intr 1 2 3\n")
    with pytest.raises(ValueError, match="malformed"):
        parse_self_stat("4242 (x) R 1\n")
    load = cpu_load_between(CpuTimes(1000, 800, 10), CpuTimes(1400, 1000, 110))
    assert load == CpuLoad(process_percent=25.0, system_percent=50.0)
    assert cpu_load_between(CpuTimes(5, 5, 0), CpuTimes(5, 5, 0)) is None
    assert load.text() == "CPU: 25% process, 50% machine"
    assert load.as_dict() == {"cpu_process_percent": 25.0, "cpu_system_percent": 50.0}


def test_reader_rate_limits_and_averages_on_a_fake_proc(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    now = [0.0]
    _write(tmp_path, busy=100, idle=800, iowait=100, utime=10, stime=0)  # total 1000
    reader = CpuLoadReader(min_interval=0.5, proc=tmp_path, clock=lambda: now[0])
    assert reader.available and reader.sample() is None  # no interval yet
    _write(tmp_path, busy=300, idle=1000, iowait=100, utime=60, stime=50)  # +400 ticks: 200 busy, 100 ours
    now[0] = 0.2
    assert reader.sample() is None  # too soon: /proc is not read again
    now[0] = 0.6
    assert reader.sample() == CpuLoad(25.0, 50.0)
    _write(tmp_path, busy=700, idle=1000, iowait=100, utime=60, stime=50)  # +400 ticks, all busy, none ours
    now[0] = 0.7
    assert reader.sample() == CpuLoad(25.0, 50.0)  # the last value until the next interval
    now[0] = 1.2
    assert reader.sample() == CpuLoad(0.0, 100.0)
    assert reader.since_start() == CpuLoad(12.5, 75.0)  # 800 ticks since the start: 600 busy, 100 ours


def test_reader_shows_nothing_off_linux_or_without_proc(tmp_path, monkeypatch):
    assert not CpuLoadReader(proc=tmp_path / "missing").available
    monkeypatch.setattr(sys, "platform", "darwin")
    reader = CpuLoadReader(min_interval=0.0)
    assert not reader.available and reader.sample() is None and reader.since_start() is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the real /proc")
def test_real_read_on_linux():
    reader = CpuLoadReader(min_interval=0.0)
    assert reader.available
    end = time.process_time() + 0.3
    while time.process_time() < end:  # burn 0.3 s of CPU in this process
        pass
    load = reader.since_start()
    assert load is not None
    assert 0.0 < load.process_percent <= 100.0 and 0.0 < load.system_percent <= 100.0
    assert load.process_percent <= load.system_percent + 5.0  # our time is part of the machine's busy time
    sample = reader.sample()
    assert sample is not None and 0.0 <= sample.system_percent <= 100.0
