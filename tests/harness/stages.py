"""The capability table: which tests apply to which stage.

Every stage keeps the contract (command line, `listening on`, Ctrl+C exit 0); the capabilities
below say what else it does, or which taught limit it shows. A test names the capabilities it
needs with `@pytest.mark.needs("echo", ...)` and runs against every selected stage that has
them all. A new stage is one more row. A program of your own can play a row too:
`pytest tests --exe PATH --as NN` runs row NN's tests against it (conftest.py; README, "Test your
own server").

Capabilities:
  echo                  every byte sent comes back, in order; half-close ends the echo cleanly
  one_client_at_a_time  taught limit of 01: a second client waits until the first leaves
  concurrent            many clients are served at once (settings["concurrent_clients"], 200
                        unless said otherwise); a silent one delays nobody
  chat                  stage 03's line protocol: numbering, joined/left notices, broadcast
  cycles                connect/echo/close over and over leaves no thread or memory behind;
                        settings["cycles"] says how many
  client_limit          serves settings["client_limit"] clients at once and refuses one more
                        with a line and a close, never leaving it hanging
  max_clients_option    --max-clients N sets that limit
  fd_setsize            04's select(): 63, 64, 65, 100 and 500 clients, around and beyond the
                        default FD_SETSIZE of 64
  one_per_worker        taught limit of 05: with --workers N, N clients are served at once and
                        the next waits in the port's queue until one leaves
  iocp_server           stages 07 and 08 under load and misbehaviour (test_iocp_server.py)
  send_holds_a_worker   taught limit of 07: its synchronous send() holds a worker while a client
                        does not read, until SO_SNDTIMEO (--send-timeout-ms) gives up
  send_holds_no_worker  08's overlapped WSASend: a client that does not read holds no worker,
                        and costs the server a bounded amount of memory
  send_timeout          --send-timeout-ms MS: a client that takes nothing of its echo for that
                        long is disconnected, and its place among --max-clients given to another
  fair_under_load       with --workers 1, 50 clients that each keep a message in flight: by the
                        time one has had 200 echoes, every other one has had at least one
  short_sends           a test build beside the stage, settings["send_cap_build"] in bin/, whose
                        every WSASend asks for a few bytes only: each echo is a short send
  http                  stage 09's HTTP/1.1 (test_http.py)
  past_fd_setsize       a Linux twin's poll(): 2,000 clients at once, descriptors numbered past
                        1,023 among them, which select() could not take (test_linux.py)
  descriptor_limit      a Linux twin raises its descriptor limit itself, and refuses clients
                        politely where that limit ends; settings["descriptors_besides_clients"]
                        says how many it keeps for itself (test_linux.py)
  posix_signals         a Linux twin: SIGTERM stops it like Ctrl+C (SIGINT) (test_linux.py)
  provided_buffers      the io_uring twin's receive buffers (--buffers N per ring): an idle client
                        holds none; with every one held by clients that do not read, the others
                        wait; Ctrl+C ends clients that wait for one (test_linux.py)
  fast_path             stage 10's skip mode and fairness rule, with one worker: a client that
                        always has bytes waiting does not keep the worker from the others, and
                        the test build without the rule does (test_fast_path.py)

The Linux twins (stages/linux/NN_name, notes/linux_*.md) are rows too, named linux/NN: each has
the row of its Windows twin, and its program is a native Linux one (`native=True`), built by the
linux-native preset into build/linux-native/bin without .exe, and run directly, never under
Wine. `pytest tests --stage linux/07` tests one; on Windows they are not tested (conftest.py says
so in one line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _processors() -> int:
    """The processors this process may run on — its CPU affinity, which a server started from
    here inherits — or the machine's count where there is no affinity to ask (Windows)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Stage:
    number: str            # "01", or "linux/01" for a Linux twin
    folder: str            # "01_blocking_echo", or "linux/01_blocking_echo", under stages/
    capabilities: frozenset[str]
    # Arguments every test adds when it starts this stage (beyond --host/--port).
    extra_args: tuple[str, ...] = field(default=())
    # Numbers some tests take from the stage (how many cycles, its client limit, ...).
    settings: dict = field(default_factory=dict, compare=False, hash=False)
    # A Linux twin: a native program of the linux-native build, not a .exe.
    native: bool = False

    @property
    def program_name(self) -> str:
        """The name the program gives itself in its usage line: stage01_blocking_echo."""
        name = self.folder.rsplit("/", 1)[-1]
        return f"stage{name[:2]}_{name[3:]}"

    @property
    def exe_name(self) -> str:
        """Its file in the build tree's bin/: stage01_blocking_echo.exe, or without .exe for
        a Linux twin."""
        return self.program_name if self.native else self.program_name + ".exe"

    def has(self, *capabilities: str) -> bool:
        return set(capabilities) <= self.capabilities


STAGES: list[Stage] = [
    Stage("01", "01_blocking_echo", frozenset({"echo", "one_client_at_a_time"})),
    Stage("02", "02_thread_per_client", frozenset({"echo", "concurrent", "cycles"}),
          settings={"cycles": 1500}),
    Stage("03", "03_broadcast_chat", frozenset({"chat"})),
    Stage("04", "04_select", frozenset({"echo", "concurrent", "cycles", "client_limit",
                                        "max_clients_option", "fd_setsize"}),
          settings={"cycles": 1500, "client_limit": 1023}),
    Stage("05", "05_iocp_basics", frozenset({"echo", "cycles", "one_per_worker"}),
          settings={"cycles": 1500}),
    Stage("06", "06_overlapped_io", frozenset({"echo", "concurrent", "cycles", "client_limit"}),
          settings={"cycles": 1500, "client_limit": 62, "concurrent_clients": 62}),
    Stage("07", "07_iocp_server", frozenset({"echo", "concurrent", "cycles", "max_clients_option",
                                             "iocp_server", "send_holds_a_worker", "send_timeout",
                                             "fair_under_load"}),
          settings={"cycles": 5000}),
    Stage("08", "08_async_echo", frozenset({"echo", "concurrent", "cycles", "max_clients_option",
                                            "iocp_server", "send_holds_no_worker", "send_timeout",
                                            "fair_under_load", "short_sends"}),
          settings={"cycles": 5000, "send_cap_build": "stage08_async_echo_sendcap.exe"}),
    Stage("09", "09_http_server", frozenset({"http"})),
    # Stage 08 with the skip mode and its fairness rule: every row of 08's, and the rule's own.
    Stage("10", "10_fast_path", frozenset({"echo", "concurrent", "cycles", "max_clients_option",
                                           "iocp_server", "send_holds_no_worker", "send_timeout",
                                           "fair_under_load", "short_sends", "fast_path"}),
          settings={"cycles": 5000, "send_cap_build": "stage10_fast_path_sendcap.exe"}),
    # The Linux twins: each with its Windows twin's row, but for what the twin does otherwise.
    Stage("linux/01", "linux/01_blocking_echo", frozenset({"echo", "one_client_at_a_time",
                                                           "posix_signals"}),
          native=True),
    # 04's client_limit (1,023, FD_SETSIZE - 1) is select()'s. poll() goes past it
    # (past_fd_setsize); its own limit is the descriptor limit (descriptor_limit).
    Stage("linux/04", "linux/04_poll", frozenset({"echo", "concurrent", "cycles",
                                                  "max_clients_option", "fd_setsize",
                                                  "past_fd_setsize", "descriptor_limit",
                                                  "posix_signals"}),
          settings={"cycles": 1500, "descriptors_besides_clients": 5}, native=True),
    Stage("linux/07", "linux/07_epoll", frozenset({"echo", "concurrent", "cycles",
                                                   "max_clients_option", "iocp_server",
                                                   "descriptor_limit", "posix_signals"}),
          settings={"cycles": 5000, "descriptors_besides_clients": 7}, native=True),
    # Stage 08's row. Each ring is a descriptor: one per worker (by default one per processor
    # this process may run on, as net::processor_count() counts them, but one; at least one)
    # and main's.
    Stage("linux/08", "linux/08_io_uring", frozenset({"echo", "concurrent", "cycles",
                                                      "max_clients_option", "iocp_server",
                                                      "send_holds_no_worker", "descriptor_limit",
                                                      "posix_signals", "provided_buffers"}),
          settings={"cycles": 5000, "descriptors_besides_clients": 6 + max(1, _processors() - 1)},
          native=True),
]

BY_NUMBER = {stage.number: stage for stage in STAGES}
