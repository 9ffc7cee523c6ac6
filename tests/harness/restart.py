"""Starting a stage again on the port it has just left.

On Windows the restart can find its port still taken for a moment. The stages bind with
SO_EXCLUSIVEADDRUSE, and "if a listening socket with SO_EXCLUSIVEADDRUSE set accepts a
connection and is then subsequently closed, another socket (also with SO_EXCLUSIVEADDRUSE)
cannot bind to the same port as the first socket until the original connection becomes
inactive" (https://learn.microsoft.com/en-us/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse).
Connections the stopped stage had accepted are still closing just after it exits: the second
start then fails as the contract says a start on a taken port fails, exit code 1 and a line naming
the port, and succeeds once they are gone. Under Wine a restart has always listened at the first
start, so there it is tried once: a retry would only hide a real failure.
"""

from __future__ import annotations

import time

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
