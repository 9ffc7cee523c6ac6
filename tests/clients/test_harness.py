"""The tester, tested: each check must fail against a server that has the flaw the check
exists to catch, and pass against a correct control server. A check that cannot fail proves
nothing about the stages it passes.

The servers are tests/harness/broken_server.py, small Python echo servers that keep the stage
contract, so the same launcher starts and stops them (and, for Ctrl+C, tests/harness/own_server.py,
the example of tests/clients/test_own_server.py).
"""

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import python_program
from harness import checks, restart
from harness.process import ON_WINDOWS

BROKEN_SERVER = Path(__file__).resolve().parent.parent / "harness" / "broken_server.py"
OWN_SERVER = BROKEN_SERVER.with_name("own_server.py")  # tests/clients/test_own_server.py

# Starts a Python program the way Windows delivers it Ctrl+Break: the system runs the console
# handler on a new thread of its own ("The system creates a new thread in each client process to
# handle the event",
# https://learn.microsoft.com/en-us/windows/console/ctrl-c-and-ctrl-break-signals), while the
# main thread stays in whatever call it is blocked in; Python then runs its handler only when the
# main thread is back in the interpreter
# (https://docs.python.org/3/library/signal.html#execution-of-python-signal-handlers).
# On Linux, SIGINT would interrupt the main thread's accept() and hide the difference, so here
# the main thread blocks SIGINT and one idle thread takes it instead.
LIKE_WINDOWS_CTRL_BREAK = """
import runpy, signal, sys, threading
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # inherited by every later thread
def take_signals():
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Event().wait()
threading.Thread(target=take_signals, daemon=True).start()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

ECHO_CHECKS = [
    checks.check_line_echo,
    checks.check_binary_echo,
    checks.check_small_writes_in_order,
    checks.check_half_close,
    checks.check_survives_reset,
    checks.check_a_client_that_never_reads_stalls_nobody,
    checks.check_back_pressure,
]

# (the flaw, a check that must catch it)
CAUGHT = [
    ("first-4k", checks.check_binary_echo),
    ("first-4k", checks.check_half_close),
    ("stops-at-nul", checks.check_binary_echo),
    ("no-close-after-fin", checks.check_half_close),
    ("drops-partial-line", checks.check_half_close),
    ("reorders", checks.check_small_writes_in_order),
    ("reorders", checks.check_binary_echo),
    ("dies-on-reset", checks.check_survives_reset),
    ("global-send-lock", checks.check_a_client_that_never_reads_stalls_nobody),
    ("unbounded-queue", checks.check_back_pressure),
    # The control server serves clients concurrently, so it must fail stage 01's limit check:
    # the check really tells one-at-a-time from concurrent.
    ("none", checks.check_one_client_at_a_time),
]


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch):
    # The Python servers answer at once; a short hang guard keeps the failing cases quick.
    monkeypatch.setattr(checks, "IO_TIMEOUT", 5.0)


def start_broken(launch, flaw):
    process = launch.start_argv(python_program(BROKEN_SERVER, "--flaw", flaw, "--port", "0"))
    return process, process.wait_listening()


@pytest.mark.parametrize("check", ECHO_CHECKS, ids=lambda check: check.__name__)
def test_the_control_server_passes(launch, check):
    _, address = start_broken(launch, "none")
    check(*address)


@pytest.mark.parametrize("flaw, check", CAUGHT, ids=[f"{flaw}-{check.__name__}" for flaw, check in CAUGHT])
def test_each_flaw_is_caught(launch, flaw, check):
    process, address = start_broken(launch, flaw)
    with pytest.raises(AssertionError):
        check(*address)
    if flaw == "dies-on-reset":
        assert process.wait_exit() != 0  # the flaw ended it: expected here


@pytest.mark.skipif(ON_WINDOWS, reason="a Linux stand-in for Windows' Ctrl+Break; on Windows every "
                                       "test stops these servers the real way")
@pytest.mark.parametrize("server", [[BROKEN_SERVER, "--flaw", "none"], [OWN_SERVER]],
                         ids=["broken_server", "own_server"])
def test_ctrl_c_stops_a_python_server_waiting_for_clients_when_the_signal_comes_on_another_thread(
        launch, server):
    process = launch.start_argv([sys.executable, "-c", LIKE_WINDOWS_CTRL_BREAK, *map(str, server),
                                 "--port", "0"])
    process.wait_listening()
    wait_until_the_main_thread_sleeps(process.proc.pid)
    # 10 s is a hang guard: a server that waits for its next client unbounded never exits.
    assert process.stop(timeout=10) == 0, process.output_text()


def wait_until_the_main_thread_sleeps(pid: int) -> None:
    """Until the main thread is asleep in the kernel, twice in a row: in its wait for the next
    client (no other thread holds the interpreter's lock for it to wait on). A Ctrl+C sent
    before then would be seen between two Python instructions, and the test could not fail."""
    deadline = time.monotonic() + checks.IO_TIMEOUT
    asleep = 0
    while asleep < 2:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]  # after "(name)": the state letter
        asleep = asleep + 1 if state == "S" else 0
        assert time.monotonic() < deadline, f"the server's main thread never waited (state {state})"
        time.sleep(0.02)


# --- harness.restart.start_on_port: a restart on the port a stage has just left ---------------

class OwnServerPlaysEveryStage:
    """launch.start(stage, *args) as start_on_port() calls it, with own_server.py as the stage."""

    def __init__(self, launch):
        self.launch = launch
        self.started = 0

    def start(self, stage, *args):
        self.started += 1
        return self.launch.start_argv(python_program(OWN_SERVER, *args))


def held_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


def test_start_on_port_on_windows_starts_again_until_the_port_is_free(launch, monkeypatch):
    monkeypatch.setattr(restart, "ON_WINDOWS", True)  # the retries are Windows' (see restart.py)
    holder = held_port()
    port = holder.getsockname()[1]
    release = threading.Timer(1.0, holder.close)  # the port is taken for the first second
    release.start()
    try:
        process = restart.start_on_port(OwnServerPlaysEveryStage(launch), None, port,
                                        attempts=100, pause=0.1)
    finally:
        release.join()
    assert (process.host, process.port) == ("127.0.0.1", port)


@pytest.mark.parametrize("windows", [False, True], ids=["elsewhere", "on-windows"])
def test_start_on_port_does_not_start_again_when_that_cannot_help(launch, monkeypatch, windows):
    monkeypatch.setattr(restart, "ON_WINDOWS", windows)
    players = OwnServerPlaysEveryStage(launch)
    with held_port() as holder:
        # Elsewhere a taken port fails at once; on Windows, so does any other failure (here:
        # a port number out of range, exit code 2).
        port = 70000 if windows else holder.getsockname()[1]
        with pytest.raises(AssertionError, match="exited with code"):
            restart.start_on_port(players, None, port, attempts=5, pause=0.1)
    assert players.started == 1
