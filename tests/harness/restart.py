"""Starting a stage again on the port it has just left.

On Windows the restart can find its port still taken for a moment. The stages bind with
SO_EXCLUSIVEADDRUSE, and "if a listening socket with SO_EXCLUSIVEADDRUSE set accepts a
connection and is then subsequently closed, another socket (also with SO_EXCLUSIVEADDRUSE)
cannot bind to the same port as the first socket until the original connection becomes
inactive" (https://learn.microsoft.com/en-us/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse).
The stage closes first at Ctrl+C, so a connection its client then closes normally waits in
TIME_WAIT on the stage's port for minutes: the restart test closes its clients with a reset
instead, and checks with time_wait_on_port() that none is left.
Connections the stopped stage had accepted are still closing just after it exits: the second
start then fails as the contract says a start on a taken port fails, exit code 1 and a line naming
the port, and succeeds once they are gone. Under Wine a restart has always listened at the first
start, so there it is tried once: a retry would only hide a real failure.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from harness.process import ON_WINDOWS, ServerProcess

RESTART_ATTEMPTS = 10
RESTART_PAUSE = 0.5  # seconds between attempts: in all, about five seconds of closing connections


def start_on_port(launch, stage, port: int, attempts: int = RESTART_ATTEMPTS,
                  pause: float = RESTART_PAUSE) -> ServerProcess:
    """Start `stage` with --port `port` and wait until it listens; on Windows, try again (up to
    `attempts` starts, `pause` seconds apart) while the only failure is "port taken". Any other
    failure, or the last attempt's, raises as ServerProcess.wait_listening() does."""
    tries = attempts if ON_WINDOWS else 1
    for attempt in range(1, tries + 1):
        process = launch.start(stage, "--port", str(port))
        try:
            process.wait_listening()
            return process
        except AssertionError:
            taken = _port_was_taken(process, port)  # (also records the exit code)
            if attempt == tries or not taken:
                raise
        time.sleep(pause)
    raise AssertionError("unreachable")  # the last attempt returned or raised


def _port_was_taken(process: ServerProcess, port: int) -> bool:
    if process.alive():
        return False  # no `listening on` in time, and still running: not a bind failure
    # wait_exit() records the exit code, so the launcher does not report this start as a
    # program that ended during the test.
    if process.wait_exit() != 1:
        return False
    lines = [line for line in process.stderr_lines if line.strip()]
    return len(lines) == 1 and str(port) in lines[0]


def time_wait_on_port(port: int) -> int:
    """How many connections whose local port is `port` are in TIME_WAIT: on Windows a new
    SO_EXCLUSIVEADDRUSE listener cannot bind that port while any is (the module's docstring)."""
    if ON_WINDOWS:
        lines = subprocess.run(["netstat", "-an", "-p", "TCP"], capture_output=True, text=True,
                               check=True).stdout.splitlines()
        return sum(1 for line in lines
                   if "TIME_WAIT" in line and line.split()[1].rsplit(":", 1)[-1] == str(port))
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "06":  # 06: TCP_TIME_WAIT
                count += 1
    return count
