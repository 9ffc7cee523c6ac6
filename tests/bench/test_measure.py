"""One point of the ladder measured end to end (bench/run.py's measure()) against the fake echo
server of tests/bench/fake_echo_server.py, started as bench/run.py starts a native server; and
the system-call counter alone, against a process whose calls are known. Counts only, no time.

Skipped with a line where the load generator is not built, or perf cannot count system calls.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import run  # noqa: E402  (bench/run.py)

NATIVE = REPO / "build" / "bench-native"
FAKE = Path(__file__).resolve().parent / "fake_echo_server.py"
NO_PERF = None if run.ON_WINDOWS else run.syscalls_countable()
WINDOW_MS = 500


@pytest.mark.skipif(not Path(run.loadgen_path(NATIVE)).is_file(),
                    reason="build/bench-native/loadgen is not built (bench/run.sh builds it)")
@pytest.mark.skipif(run.ON_WINDOWS, reason="the fake server runs as a native program on Linux")
def test_a_point_reports_the_starved_connection_and_what_each_round_trip_cost():
    server = run.Server("fake", [sys.executable, str(FAKE), "--silent", "2"], [5], wine=False)
    args = argparse.Namespace(warmup_ms=100, duration_ms=WINDOW_MS, warmup_round_trips=3,
                              pin="native", syscalls=NO_PERF is None)
    result = run.measure(server, 5, 64, args, None, NATIVE)
    assert result["starved"] == 1 and result["worst_us"] >= WINDOW_MS * 1000, result
    assert result["in_flight_at_end"] == 5, result
    assert result["server_us_per_rt"] > 0 and result["loadgen_us_per_rt"] > 0, result
    assert result["pinned"] == (run.processors() >= 2 and bool(run.shutil.which("taskset")))
    if NO_PERF is None:
        # Each echo of the fake server is a recv() and a send(); perf's window and the load
        # generator's differ by a few percent, hence the margin.
        assert result["server_syscalls_per_rt"] >= 1.5, result
    else:
        assert "server_syscalls_per_rt" not in result
    assert "wineserver_syscalls_per_rt" not in result  # no Wine here


CALLER = """
import os, sys
for line in sys.stdin:
    for _ in range(int(line)):
        os.getppid()
    print("done", flush=True)
"""


@pytest.mark.skipif(NO_PERF is not None, reason=f"system calls not countable: {NO_PERF}")
def test_the_counter_counts_the_calls_of_its_window_only(tmp_path):
    caller = subprocess.Popen([sys.executable, "-c", CALLER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        counter = run.SyscallCounter(caller.pid, tmp_path)

        def calls(n):
            caller.stdin.write(f"{n}\n")
            caller.stdin.flush()
            assert caller.stdout.readline() == "done\n"

        assert counter.ready()
        calls(20000)         # attached, not yet counting
        counter.enable()
        calls(5000)          # counted: 5,000 getppid, and the reads and writes of the lines
        counter.disable()
        calls(20000)         # no longer counting
        assert counter.per_second() is not None
        assert 5000 <= counter.count < 6000, counter.count
    finally:
        caller.kill()
        caller.wait()
