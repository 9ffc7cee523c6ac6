"""Start a server program, read its output as it runs, stop it with Ctrl+C.

On Windows the stage's .exe runs directly. Anywhere else it runs under Wine, through the
build tree's `wine-run` script (CMake writes it; it sets the Wine prefix that lives in the
build tree). Python programs (the deliberately broken servers of test_harness.py) run the same
way on every system.

How Ctrl+C is sent:
- Linux/Wine: SIGINT to the process. Wine turns it into CTRL_C_EVENT for the program's
  console handler.
- Windows: the process is started in a new process group, and CTRL_BREAK_EVENT is sent to
  that group. (Windows cannot send CTRL_C_EVENT to one process group only; every stage treats
  Ctrl+Break like Ctrl+C.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ON_WINDOWS = sys.platform == "win32"

# How long a server may take to print its `listening on` line, and to exit after Ctrl+C.
# These are hang guards, not performance claims: under Wine, with the machine busy, starting
# a program can take seconds.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0

LISTENING = re.compile(r"^listening on (?P<host>\[[^\]]+\]|[^:\s]+):(?P<port>\d+)$")


class ServerProcess:
    """One running server: its output lines, its address, and how to stop it."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None):
        self.argv = argv
        flags = subprocess.CREATE_NEW_PROCESS_GROUP if ON_WINDOWS else 0
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            creationflags=flags,
        )
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._changed = threading.Condition()
        # The output must be read all the time: a server whose stdout pipe is full would block
        # in its next log line, and the test would blame the server for our not reading.
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout_lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr_lines), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.host: str | None = None
        self.port: int | None = None
        self.exit_code: int | None = None

    def _read(self, stream, lines: list[str]) -> None:
        for raw in iter(stream.readline, b""):
            # The C runtime writes "\r\n" in text mode; the tests compare text without it.
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._changed:
                lines.append(line)
                self._changed.notify_all()

    # --- waiting for output ----------------------------------------------------------------

    def wait_for_line(self, pattern: str | re.Pattern, timeout: float = START_TIMEOUT,
                      start: int = 0) -> re.Match:
        """Wait until a stdout line (from index `start` on) matches `pattern`; return the match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.stdout_lines[start:]:
                    match = regex.search(line)
                    if match:
                        return match
                if self.proc.poll() is not None and not self._readers_alive():
                    raise AssertionError(
                        f"{self.name} exited with code {self.proc.returncode} before printing a "
                        f"line matching {regex.pattern!r}\n{self.output_text()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{self.name} printed no line matching {regex.pattern!r} within "
                        f"{timeout:.0f} s\n{self.output_text()}")
                self._changed.wait(min(remaining, 0.2))

    def wait_listening(self, timeout: float = START_TIMEOUT) -> tuple[str, int]:
        match = self.wait_for_line(LISTENING, timeout)
        host = match.group("host").strip("[]")
        self.host, self.port = host, int(match.group("port"))
        return self.host, self.port

    def _readers_alive(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    # --- stopping --------------------------------------------------------------------------

    def send_ctrl_c(self) -> None:
        if ON_WINDOWS:
            self.proc.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            self.proc.send_signal(signal.SIGINT)

    def wait_exit(self, timeout: float = STOP_TIMEOUT, after: str = "") -> int:
        """Wait for the process to end; kill it and fail if it does not (`after`: what it was
        asked to do, for the message)."""
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            # Its code is the kill's now: the test fails here, once, not again at teardown for
            # a process that "ended during the test". `from None`: the line above says it all.
            self.exit_code = self.proc.returncode
            raise AssertionError(f"{self.name} did not exit within {timeout:.0f} s{after} (killed)\n"
                                 f"{self.output_text()}") from None
        # Wine's own helper processes may hold the pipes open after the program exits, so the
        # readers are given a moment, not waited for until end of file.
        for reader in self._readers:
            reader.join(timeout=2)
        return self.exit_code

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Ctrl+C, then wait for the exit; returns the exit code."""
        if self.proc.poll() is None:
            self.send_ctrl_c()
        return self.wait_exit(timeout, after=" of Ctrl+C")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self) -> bool:
        return self.proc.poll() is None

    # --- looking inside --------------------------------------------------------------------

    @property
    def name(self) -> str:
        programs = [arg for arg in self.argv if arg.endswith((".exe", ".py"))]
        return Path(programs[0] if programs else self.argv[0]).name

    def output_text(self) -> str:
        with self._changed:
            out = "\n".join("  | " + line for line in self.stdout_lines[-40:])
            err = "\n".join("  ! " + line for line in self.stderr_lines[-40:])
        return f"--- last stdout lines ---\n{out}\n--- last stderr lines ---\n{err}"

    def memory_bytes(self) -> int:
        """The server's resident memory (working set)."""
        if ON_WINDOWS:
            return _windows_working_set(self.proc.pid)
        return _proc_status_field(self.proc.pid, "VmRSS") * 1024

    def thread_count(self) -> int:
        if ON_WINDOWS:
            return _windows_thread_count(self.proc.pid)
        return _proc_status_field(self.proc.pid, "Threads")


def _proc_status_field(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def _windows_working_set(pid: int) -> int:
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                    ("PeakWorkingSetSize", ctypes.c_size_t), ("WorkingSetSize", ctypes.c_size_t),
                    ("QuotaPeakPagedPoolUsage", ctypes.c_size_t), ("QuotaPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
                    ("PagefileUsage", ctypes.c_size_t), ("PeakPagefileUsage", ctypes.c_size_t)]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    psapi = ctypes.WinDLL("psapi", use_last_error=True)
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_VM_READ = 0x1000, 0x0010
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, False, pid)
    if not handle:
        raise AssertionError(f"OpenProcess({pid}) failed")
    try:
        counters = Counters()
        counters.cb = ctypes.sizeof(Counters)
        if not psapi.GetProcessMemoryInfo(handle, ctypes.byref(counters), counters.cb):
            raise AssertionError("GetProcessMemoryInfo failed")
        return int(counters.WorkingSetSize)
    finally:
        kernel32.CloseHandle(handle)


def _windows_thread_count(pid: int) -> int:
    import ctypes
    from ctypes import wintypes

    class ThreadEntry(ctypes.Structure):
        _fields_ = [("dwSize", wintypes.DWORD), ("cntUsage", wintypes.DWORD),
                    ("th32ThreadID", wintypes.DWORD), ("th32OwnerProcessID", wintypes.DWORD),
                    ("tpBasePri", wintypes.LONG), ("tpDeltaPri", wintypes.LONG),
                    ("dwFlags", wintypes.DWORD)]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateToolhelp32Snapshot.restype = wintypes.HANDLE
    TH32CS_SNAPTHREAD = 0x4
    snapshot = kernel32.CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0)
    count = 0
    try:
        entry = ThreadEntry()
        entry.dwSize = ctypes.sizeof(ThreadEntry)
        more = kernel32.Thread32First(snapshot, ctypes.byref(entry))
        while more:
            if entry.th32OwnerProcessID == pid:
                count += 1
            more = kernel32.Thread32Next(snapshot, ctypes.byref(entry))
    finally:
        kernel32.CloseHandle(snapshot)
    return count


class WineSession:
    """A persistent wineserver for the whole test run, and a warm prefix.

    Without it, each program start pays for a new wineserver and Wine's helper processes
    (seconds each). The warm-up start has its output sent to /dev/null because the helper
    processes Wine starts then inherit that program's stdout and stderr: they would otherwise
    hold a test's pipes open. At the end, `wineserver -k` ends every Wine process of the prefix,
    so nothing outlives the tests.
    """

    def __init__(self, wine_run: Path):
        self.wine_run = wine_run
        prefix = None
        for line in wine_run.read_text().splitlines():
            match = re.match(r'export WINEPREFIX="(.*)"', line)
            if match:
                prefix = match.group(1)
        if not prefix:
            raise RuntimeError(f"{wine_run} sets no WINEPREFIX")
        self.env = dict(os.environ, WINEPREFIX=prefix, WINEDEBUG="-all",
                        WINEDLLOVERRIDES="mscoree,mshtml=")
        self.server: subprocess.Popen | None = None

    def start(self) -> None:
        quiet = dict(env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, check=False)
        subprocess.run(["wineserver", "-k"], **quiet, timeout=60)  # none left from before
        # A new prefix is made by the first wine-run (wineboot); then wait for that run's
        # wineserver to go, so that the persistent one below is the only one.
        subprocess.run([str(self.wine_run), "cmd", "/c", "exit"], **quiet, timeout=300)
        subprocess.run(["wineserver", "-w"], **quiet, timeout=120)
        self.server = subprocess.Popen(["wineserver", "-p", "-f"], env=self.env,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        # Start Wine's helper processes now, with /dev/null as their inherited output.
        subprocess.run([str(self.wine_run), "cmd", "/c", "exit"], **quiet, timeout=300)

    def stop(self) -> None:
        subprocess.run(["wineserver", "-k"], env=self.env, check=False, timeout=60)
        if self.server:
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
