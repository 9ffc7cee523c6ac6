"""The load generator (bench/loadgen) against small fake servers whose behaviour is known: what
it reports about a connection the server stops answering, about the round trips still in flight
when the window ends, and about its warm-up. Counts and bytes only, never a time budget: the
window's length is an input here, and a round trip that lasts the whole window must be reported
as at least that long.

The load generator is built by bench/run.sh (cmake -S bench -B build/bench-native); these tests
are skipped with a line when it is not there.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_echo_server import FakeEchoServer  # noqa: E402  (tests/bench/fake_echo_server.py)

LOADGEN = REPO / "build" / "bench-native" / (
    "loadgen.exe" if sys.platform == "win32" else "loadgen")

pytestmark = pytest.mark.skipif(
    not LOADGEN.is_file(),
    reason=f"{LOADGEN.relative_to(REPO)} is not built (cmake -S bench -B build/bench-native)")

WINDOW_MS = 500


def run_loadgen(port: int, connections: int, *extra: str) -> dict:
    done = subprocess.run(
        [str(LOADGEN), "--port", str(port), "--connections", str(connections), "--size", "64",
         "--warmup-ms", "100", "--duration-ms", str(WINDOW_MS), *extra],
        capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the load generator printed no result: {done.stdout!r} {done.stderr!r}"
    return json.loads(lines[-1])


def test_a_connection_never_answered_is_counted_with_a_round_trip_as_long_as_the_window():
    with FakeEchoServer(silent=2) as server:
        result = run_loadgen(server.port, 5)
    assert result["starved"] == 1, result
    # Its one round trip lasted the whole window and more (it began before the window).
    assert result["worst_us"] >= WINDOW_MS * 1000, result
    assert result["fairness"] == 0, result
    # The four others kept going, and the rate counts their completed round trips only.
    assert result["round_trips"] > 0 and result["errors"] == 0, result


def test_every_round_trip_in_flight_at_the_end_of_the_window_is_counted():
    # Closed loop: each connection always has its one message out, so at the end of the window
    # there is exactly one round trip in flight per connection, each counted once.
    with FakeEchoServer() as server:
        result = run_loadgen(server.port, 7)
    assert result["in_flight_at_end"] == 7, result
    assert result["starved"] == 0 and result["fairness"] > 0, result


def test_the_warm_up_lasts_the_round_trips_asked_for():
    with FakeEchoServer() as server:
        result = run_loadgen(server.port, 4, "--warmup-ms", "0", "--warmup-round-trips", "50")
    assert result["warmup_round_trips"] >= 4 * 50, result
