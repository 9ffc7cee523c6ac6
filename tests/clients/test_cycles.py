"""Connect, echo, close — over and over. A server that leaks a thread, a socket or a buffer per
client shows it here: the thread count and the memory after many cycles are those of after a
few, and the server's own count of live clients is back at 0."""

import re

import pytest

from harness import checks

pytestmark = pytest.mark.needs("cycles")

# Resident memory moves by a megabyte or so for reasons of its own (allocator caches, Wine's
# bookkeeping). A leak of even 1 KiB per client over these cycles is several times more.
MEMORY_SLACK = 3 << 20

# The cycles come one client at a time, but the server may notice a client's FIN a few cycles
# after the next client connected: the worker or thread that handles it can be held up by the
# scheduler on a loaded machine (seen natively: up to 6 live at once). A server that lets its
# clients pile up goes far beyond this; one that never lets a client go fails the wait for
# "(0 live)" below.
MOST_LIVE_AT_ONCE = 16


def _cycles(host, port, count, start):
    for index in range(start, start + count):
        checks.echo_round_trip(host, port, b"cycle %d\n" % index)


def test_connect_echo_close_cycles_leave_nothing_behind(server, stage):
    total = stage.settings["cycles"]
    warm_up = total // 5
    _cycles(server.host, server.port, warm_up, 0)
    threads_before, memory_before = server.thread_count(), server.memory_bytes()

    _cycles(server.host, server.port, total - warm_up, warm_up)
    # The last client's "disconnected ... (0 live)" line: everyone has been let go.
    server.wait_for_line(rf"^client {total} disconnected: .*\(0 live\)$")
    threads_after, memory_after = server.thread_count(), server.memory_bytes()

    lives = [int(m.group(1)) for line in server.stdout_lines
             if (m := re.search(r"\((\d+) live\)$", line))]
    assert max(lives) <= MOST_LIVE_AT_ONCE, f"clients piled up: up to {max(lives)} live at once"
    assert threads_after <= threads_before + 1, \
        f"threads grew from {threads_before} to {threads_after} over {total - warm_up} cycles"
    growth = memory_after - memory_before
    assert growth < MEMORY_SLACK, \
        f"memory grew by {growth >> 10} KiB over {total - warm_up} cycles " \
        f"({growth / (total - warm_up):.0f} bytes per client)"
