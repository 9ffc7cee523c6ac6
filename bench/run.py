#!/usr/bin/env python3
"""The benchmark ladder: every echo stage and the asio peers, at 1 to 10,000 connections.

    bench/run.sh                          the whole ladder; rewrites notes/benchmarks.md's
                                          generated parts, notes/benchmarks.png and .json
    bench/run.sh --stage 07 --connections 100 --size 64
                                          one point (repeatable options; nothing rewritten
                                          unless --report is given)
    bench/run.sh --group native           only the programs that run without Wine
    bench/run.sh --quick-fairness --extra old08=/work/old/stage08_async_echo.exe
                                          stage 07, 08 and 10 (and the extra servers) side by
                                          side at 1,000 connections: the fairness table

Two groups of servers, never mixed in one table or one plot panel:
- "windows": the stages and the asio peer built with MinGW-w64, run under Wine here (directly
  on Windows);
- "native": programs built for the host and run without Wine: the Linux twins of stages/linux/
  and the asio peer, with one thread and with as many threads as each twin has workers (the
  twins are graded against it as the stages are against the Wine peer).
A server whose program is not built is skipped with a line, so the ladder runs while a stage
is still being written.

Stage 09 and its peer, an asio HTTP server, are measured with wrk (Debian's package) for a
small file and the /stats page at 1, 64 and 1,000 connections.

Each point: start the server, let bench/loadgen connect N clients (each does one round trip
first), warm up, measure (closed loop: one message in flight per connection), and sample the
server meanwhile: its resident memory, its CPU and, under Wine, wineserver's CPU, each also per
round trip, and the system calls it makes per round trip (perf counting raw_syscalls:sys_enter
for the measured window only, where perf can: --no-syscalls leaves it out). The load generator
reports the worst round trip (one still in flight at the window's end counts with its age) and
the connections that completed none. Every point runs --runs times (3), servers interleaved, and
the report gives the median with min and max. Under Wine, bench/wineserver_requests.py then
counts the wineserver requests each echo costs (an explanation of Wine's costs, not a target).

Pinning (--pin): with two cores or more, the load generator runs on core 0 and the server on
the others (taskset), so that neither takes the other's core. By default the native programs are
pinned and the Windows programs under Wine are not (wineserver would need a core of its own too);
--pin all pins those too (wineserver with the server), --pin none nothing.
Benchmarks report; they assert nothing about time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from harness.process import ON_WINDOWS, ServerProcess, WineSession  # noqa: E402

CONNECTIONS = [1, 10, 100, 1000, 10000]
SIZES = [64, 4096]
DEFAULT_RESULTS = str(REPO / "build" / "bench" / "results.json")


@dataclass
class Server:
    name: str                    # as in the tables and the plot
    argv: list[str]              # without --port; argv[0] is the program
    connections: list[int]       # where the model allows it
    why_not: str = ""            # and why not elsewhere
    wine: bool = True            # a Windows program (under Wine when not on Windows)
    stage: bool = True           # a stage (stopped with Ctrl+C) or a peer (killed)
    threads: int | None = None   # the threads serving I/O, where the command line fixes them
    setup_concurrency: int = 32  # for the connection setup rate
    per_point_args: callable = field(default=None)  # extra arguments per connection count

    @property
    def group(self) -> str:
        """Which figures it may be compared with: "windows" (the Windows programs, under Wine
        here) or "native" (built for the host, no Wine)."""
        return "windows" if self.wine else "native"

    @property
    def program(self) -> Path:
        return Path(self.argv[0])

    def description(self) -> dict:
        return {"name": self.name, "connections": self.connections, "why_not": self.why_not,
                "group": self.group, "role": "stage" if self.stage else "peer",
                "threads": self.threads, "program": self.program.name}


def processors() -> int:
    return os.cpu_count() or 1


# The Linux twins of stages/linux/, built natively: folder, name in the tables, connection
# counts, and their default worker count for this machine's processors (None: one thread, the
# model has no workers). The twins' own defaults: 07 one worker per processor, at least two (a
# worker blocked in send() leaves another to serve); 08 one per processor but one, at least one
# (a ring's thread never waits on a client, and one processor stays for main, the kernel's
# network work and, here, the load generator). bench/run.sh builds
# stages/linux/ and expects each twin at <--linux-dir>/stageNN_<name>, the Windows stages'
# naming without .exe.
LINUX_TWINS = [
    ("01_blocking_echo", "01 blocking (Linux)", [1], None),
    ("04_poll", "04 poll (Linux)", CONNECTIONS, None),
    ("07_epoll", "07 epoll (Linux)", CONNECTIONS, lambda cpus: max(2, cpus)),
    ("08_io_uring", "08 io_uring (Linux)", CONNECTIONS, lambda cpus: max(1, cpus - 1)),
]


def servers(build: Path, native: Path, linux: Path | None = None) -> list[Server]:
    """Every echo server of the ladder, built or not (see built())."""
    bin_ = build / "bin"
    exe = lambda name: str(bin_ / name)  # noqa: E731
    # 07 and 08 get their worker count on the command line (it is their default, twice the
    # processors), so that the peer they are graded against has exactly as many threads.
    workers = 2 * processors()
    found = [
        Server("01 blocking", [exe("stage01_blocking_echo.exe")], [1],
               "one client at a time: more connections would wait in the backlog",
               threads=1, setup_concurrency=1),
        Server("02 thread/client", [exe("stage02_thread_per_client.exe")], [1, 10, 100, 1000],
               "a thread per client costs about 1 MiB of memory under Wine: 10,000 would need ~10 GB"),
        Server("04 select", [exe("stage04_select.exe")], [1, 10, 100, 1000],
               "at most FD_SETSIZE - 1 = 1,023 clients", threads=1),
        Server("05 IOCP basics", [exe("stage05_iocp_basics.exe")], [1, 10, 100],
               "a worker per client (--workers N): beyond 100 it is stage 02's thread count",
               per_point_args=lambda n: ["--workers", str(n)]),
        Server("06 overlapped", [exe("stage06_overlapped_io.exe")], [1, 10],
               "at most 62 clients: WSAWaitForMultipleEvents waits on 64 events", threads=1),
        Server("07 IOCP server", [exe("stage07_iocp_server.exe"), "--workers", str(workers)],
               CONNECTIONS, threads=workers,
               per_point_args=lambda n: ["--max-clients", str(max(n + 10, 10000))]),
        Server("08 async echo", [exe("stage08_async_echo.exe"), "--workers", str(workers)],
               CONNECTIONS, threads=workers),
        Server("10 fast path", [exe("stage10_fast_path.exe"), "--workers", str(workers)],
               CONNECTIONS, threads=workers),
        Server(f"asio, {processors()} threads", [exe("peer_asio_echo.exe"), "--threads",
                                                 str(processors())], CONNECTIONS, stage=False,
               threads=processors()),
        Server(f"asio, {workers} threads", [exe("peer_asio_echo.exe"), "--threads", str(workers)],
               CONNECTIONS, stage=False, threads=workers),
    ]
    if ON_WINDOWS:  # the peers above already run natively, and the twins are Linux programs
        return found
    linux = linux or build.parent / "linux-native" / "bin"
    for folder, name, connections, default_workers in LINUX_TWINS:
        # A twin with workers gets their count on the command line (its own default), as 07 and
        # 08 do above, so that the native peer it is graded against has as many threads.
        twin_workers = default_workers(processors()) if default_workers else None
        found.append(Server(name, [str(linux / f"stage{folder}")]
                            + (["--workers", str(twin_workers)] if twin_workers else []),
                            connections, wine=False,
                            why_not="one client at a time" if connections == [1] else "",
                            threads=twin_workers or 1,
                            setup_concurrency=1 if connections == [1] else 32))
    # And each twin with workers run with one, beside asio native with one thread: one thread
    # against one is the comparison that says what the model costs, whatever the cores.
    for folder, name, connections, default_workers in LINUX_TWINS:
        if default_workers:
            found.append(Server(f"{name}, 1 worker", [str(linux / f"stage{folder}"), "--workers",
                                                      "1"], connections, wine=False, threads=1))
    # The native peer with one thread (like the single-threaded twins) and with every worker
    # count a twin has: each twin is graded against the peer with as many threads.
    counts = {1} | {s.threads for s in found if not s.wine and s.threads}
    for threads in sorted(counts):
        found.append(Server(f"asio native, {threads} thread{'s' if threads > 1 else ''}",
                            [str(native / "asio_echo"), "--threads", str(threads)], CONNECTIONS,
                            wine=False, stage=False, threads=threads))
    return found


def extra_servers(values: list[str]) -> list[Server]:
    """--extra NAME=PROGRAM [ARGUMENTS]: a server given by path, for example an older build of a
    stage to compare with (`old08=/work/old/stage08_async_echo.exe`). A .exe runs under Wine
    (here) as a Windows stage; with no arguments given it gets the --workers of stages 07 and 08,
    so that the comparison is like for like. Stopped with Ctrl+C, as a stage."""
    found = []
    for value in values:
        name, _, command = value.partition("=")
        argv = shlex.split(command)
        if not name or not argv:
            raise SystemExit(f"--extra {value!r}: expected NAME=PROGRAM [ARGUMENTS]")
        windows = argv[0].lower().endswith(".exe")
        if windows and len(argv) == 1:
            argv += ["--workers", str(2 * processors())]
        threads = int(argv[argv.index("--workers") + 1]) if "--workers" in argv[:-1] else None
        found.append(Server(name, argv, CONNECTIONS, wine=windows, threads=threads))
    return found


def built(chosen: list[Server]) -> tuple[list[Server], list[dict]]:
    """The servers whose program exists, and a line for each one that does not: a stage still
    being written is skipped, not a reason to stop the ladder."""
    ready, skipped = [], []
    for server in chosen:
        if server.program.is_file():
            ready.append(server)
        else:
            where = server.program.resolve()
            why = f"{where.relative_to(REPO) if where.is_relative_to(REPO) else where} is not built"
            print(f"skipped: {server.name} ({why})")
            skipped.append({"name": server.name, "group": server.group, "why": why})
    return ready, skipped


def wanted(server: Server, args) -> bool:
    """--stage (the start of a name) and --group select servers; neither given: all."""
    return ((not args.stage or any(server.name.startswith(x) for x in args.stage))
            and (not args.group or server.group == args.group))


# The servers of --quick-fairness: the Windows stages of the echo engine, by name.
QUICK_STAGES = ["07 ", "08 ", "10 "]


def quick_fairness(args) -> None:
    """--quick-fairness: stage 07, 08 and 10 (when built) and every --extra server, closed-loop
    64-byte echo, 1,000 connections, 3 s windows after at least 0.5 s of warm-up, three runs,
    servers interleaved. Nothing in notes/ is rewritten."""
    args.stage = args.stage or QUICK_STAGES  # --stage narrows it: --stage 07 --extra old08=...
    args.group = args.group or "windows"
    args.connections, args.size = args.connections or [1000], args.size or [64]
    args.warmup_ms, args.duration_ms = max(args.warmup_ms, 500), max(args.duration_ms, 3000)
    args.no_setup = args.no_http = args.no_requests = True
    if args.results == DEFAULT_RESULTS:
        args.results = str(REPO / "build" / "bench" / "quick-fairness.json")


# --- pinning ---------------------------------------------------------------------------------

def core_sets(server: Server, args, cores: int | None = None) -> tuple[str | None, str | None]:
    """The cores (taskset's list) of the load generator and of the server: core 0 and the others
    when pinning applies to this server and the machine has two cores or more; else None."""
    cores = cores or processors()
    applies = args.pin == "all" or (args.pin == "native" and not server.wine)
    if not applies or cores < 2 or ON_WINDOWS or not shutil.which("taskset"):
        return None, None
    return "0", "1" if cores == 2 else f"1-{cores - 1}"


def on_cores(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


def pin_process(pid: int, cpus: str) -> None:
    """Every thread of a running process onto `cpus` (wineserver, started once for all)."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], stdout=subprocess.DEVNULL,
                   check=False)


# --- counting system calls -------------------------------------------------------------------

SYSCALL_EVENT = "raw_syscalls:sys_enter"


def syscalls_countable() -> str | None:
    """None when perf can count system calls here, else why not (said once, in a line)."""
    if ON_WINDOWS:
        return "no perf on Windows"
    if not shutil.which("perf"):
        return "perf is not installed (Debian: linux-perf)"
    done = subprocess.run(["perf", "stat", "-x,", "-e", SYSCALL_EVENT, "true"],
                          capture_output=True, text=True, check=False)
    first = done.stderr.strip().splitlines()[-1:] or [""]
    if done.returncode != 0 or not first[0].split(",")[0].isdigit():
        return f"perf cannot count {SYSCALL_EVENT} here: {done.stderr.strip()[-200:]}"
    return None


class SyscallCounter:
    """perf stat counting one process's system calls (every thread, those started later too),
    attached before the load begins but counting only between enable() and disable(), through
    perf's control fifo: attaching takes perf tens of milliseconds, too slow for the window."""

    def __init__(self, pid: int, folder: Path):
        self.folder = folder
        control, ack = folder / f"control-{pid}", folder / f"ack-{pid}"
        self.output = folder / f"perf-{pid}.csv"
        os.mkfifo(control)
        os.mkfifo(ack)
        # Read and write ends at once, so that neither side's open() waits for the other.
        self.control = os.open(control, os.O_RDWR)
        self.ack = os.open(ack, os.O_RDWR)
        self.process = subprocess.Popen(
            ["perf", "stat", "-x,", "-e", SYSCALL_EVENT, "-o", str(self.output), "-D", "-1",
             "--control", f"fifo:{control},{ack}", "-p", str(pid)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.seconds = 0.0
        self._enabled_at: float | None = None

    def _command(self, word: str) -> bool:
        os.write(self.control, word.encode() + b"\n")
        ready, _, _ = select.select([self.ack], [], [], 10)
        return bool(ready) and os.read(self.ack, 64).startswith(b"ack")

    def ready(self) -> bool:
        """Wait until perf is attached (it answers a ping), counting nothing yet."""
        return self._command("ping")

    def enable(self) -> None:
        if self._command("enable"):
            self._enabled_at = time.monotonic()

    def disable(self) -> None:
        if self._enabled_at is not None and self._command("disable"):
            self.seconds = time.monotonic() - self._enabled_at

    def per_second(self) -> float | None:
        """Stop perf; the system calls a second while it counted, or None if it did not."""
        self.count = self._stop()
        return self.count / self.seconds if self.count is not None and self.seconds else None

    def _stop(self) -> int | None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.control)
        os.close(self.ack)
        if not self.output.is_file():
            return None
        for line in self.output.read_text().splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2] == SYSCALL_EVENT and fields[0].isdigit():
                return int(fields[0])
        return None


HTTP_CONNECTIONS = [1, 64, 1000]
HTTP_PATHS = ["/about.txt", "/stats"]


def http_servers(build: Path) -> list[Server]:
    """Stage 09 and its peer, an asio HTTP server doing the same per request, under Wine."""
    bin_ = build / "bin"
    www = bin_ / "www"  # the site stage 09 ships, copied by the build
    root = str(www) if ON_WINDOWS else "Z:" + str(www.resolve()).replace("/", "\\")
    workers = 2 * processors()
    return [
        Server("09 HTTP server", [str(bin_ / "stage09_http_server.exe"), "--workers", str(workers)],
               HTTP_CONNECTIONS, threads=workers),
        Server(f"asio HTTP, {workers} threads",
               [str(bin_ / "peer_asio_http.exe"), "--root", root, "--threads", str(workers)],
               HTTP_CONNECTIONS, stage=False, threads=workers),
    ]


def http_file_sizes(build: Path) -> dict[str, int]:
    """The size of each file the HTTP runs fetch (the report says what was served)."""
    www = build / "bin" / "www"
    return {path: (www / path.lstrip("/")).stat().st_size for path in HTTP_PATHS
            if (www / path.lstrip("/")).is_file()}


# --- measuring one process -------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    if ON_WINDOWS:
        import ctypes
        from ctypes import wintypes
        kernel32 = ctypes.WinDLL("kernel32")
        handle = kernel32.OpenProcess(0x1000, False, pid)
        times = [wintypes.FILETIME() for _ in range(4)]
        kernel32.GetProcessTimes(handle, *[ctypes.byref(t) for t in times])
        kernel32.CloseHandle(handle)
        ticks = lambda t: (t.dwHighDateTime << 32 | t.dwLowDateTime) / 1e7  # noqa: E731
        return ticks(times[2]) + ticks(times[3])
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running(server: Server, wine: WineSession | None, extra: list[str] | None = None,
            cpus: str | None = None):
    """The server, started on a free port (under Wine unless it is native or we are on
    Windows), on `cpus` if given, and stopped afterwards: a stage with Ctrl+C, a peer killed."""
    argv = server.argv + (extra or []) + ["--port", "0"]
    if server.wine and not ON_WINDOWS:
        argv = [str(wine.wine_run)] + argv
    argv = on_cores(cpus) + argv  # taskset execs the program: the pid stays the server's
    process = ServerProcess(argv, env=wine.env if (wine and server.wine) else None)
    try:
        process.wait_listening()
        yield process
    finally:
        if not server.stage:
            process.kill()
        else:
            try:
                process.stop(timeout=60)
            except AssertionError:  # it did not stop: stop() killed it; the figures stand
                pass


def loadgen_path(native: Path) -> str:
    return str(native / ("loadgen.exe" if ON_WINDOWS else "loadgen"))


def windows_for(connections: int, args) -> tuple[int, int]:
    """Warm-up and measured window. Under Wine a server manages about 10,000 round trips a
    second, so at 10,000 connections each one completes about one a second: the windows grow
    with the connections, so that every connection completes several round trips in each."""
    return (max(args.warmup_ms, connections // 10), max(args.duration_ms, connections * 3 // 10))


def measure(server: Server, connections: int, size: int, args, wine: WineSession | None,
            native: Path) -> dict:
    """One run of one point; returns the loadgen's figures plus the server's."""
    extra = server.per_point_args(connections) if server.per_point_args else []
    load_cpus, server_cpus = core_sets(server, args)
    wineserver = wine.server.pid if (wine and server.wine) else None
    if wineserver and not ON_WINDOWS and shutil.which("taskset"):
        # wineserver serves the process: with the server's cores when it is pinned, else free.
        pin_process(wineserver, server_cpus or f"0-{processors() - 1}")
    with running(server, wine, extra, server_cpus) as process, \
            tempfile.TemporaryDirectory(prefix="bench-perf-") as folder:
        time.sleep(0.2)
        baseline = process.memory_bytes()
        warmup_ms, duration_ms = windows_for(connections, args)
        counted = {"server": process.proc.pid, "wineserver": wineserver} if args.syscalls else {}
        counters = {who: SyscallCounter(pid, Path(folder)) for who, pid in counted.items() if pid}
        for counter in counters.values():
            counter.ready()  # attached before the load starts: its threads all counted
        result, sampled = None, {}
        try:
            loadgen = subprocess.Popen(
                on_cores(load_cpus) + [
                    loadgen_path(native), "--port", str(process.port), "--connections",
                    str(connections), "--size", str(size), "--warmup-ms", str(warmup_ms),
                    "--duration-ms", str(duration_ms), "--warmup-round-trips",
                    str(args.warmup_round_trips)],
                stdout=subprocess.PIPE, text=True)
            for line in loadgen.stdout:
                if line.startswith("measure-start"):
                    for counter in counters.values():
                        counter.enable()
                    sampled["memory"] = process.memory_bytes()
                    sampled["t0"] = time.monotonic()
                    sampled["cpu0"] = cpu_seconds(process.proc.pid)
                    sampled["ws0"] = cpu_seconds(wineserver) if wineserver else 0.0
                elif line.startswith("measure-end"):
                    elapsed = time.monotonic() - sampled["t0"]
                    sampled["server_cpu"] = ((cpu_seconds(process.proc.pid) - sampled["cpu0"])
                                             / elapsed)
                    sampled["wineserver_cpu"] = ((cpu_seconds(wineserver) - sampled["ws0"])
                                                 / elapsed if wineserver else None)
                    for counter in counters.values():
                        counter.disable()
                elif line.startswith("{"):
                    result = json.loads(line)
            loadgen.wait(timeout=300)
        finally:
            per_second = {who: counter.per_second() for who, counter in counters.items()}
    if result is None or "error" in result:
        return {"error": (result or {}).get("error", "the load generator printed nothing")}
    result["memory_per_connection"] = (sampled["memory"] - baseline) / connections
    result["server_memory"] = sampled["memory"]
    result["server_cpu"] = sampled["server_cpu"]
    result["wineserver_cpu"] = sampled["wineserver_cpu"]
    result["pinned"] = bool(server_cpus)
    result.update(costs(result, per_second))
    return result


def costs(result: dict, syscalls_per_second: dict) -> dict:
    """What each round trip cost: CPU microseconds (server, wineserver under Wine, and the load
    generator for the record) and system calls (server, wineserver), from the rates sampled."""
    rate = result.get("rate") or 0
    if rate <= 0:
        return {}
    found = {f"{who}_us_per_rt": result[f"{who}_cpu"] / rate * 1e6
             for who in ("server", "wineserver", "loadgen") if result.get(f"{who}_cpu") is not None}
    found.update({f"{who}_syscalls_per_rt": value / rate
                  for who, value in syscalls_per_second.items() if value is not None})
    return found


def parse_wrk(text: str) -> dict:
    """Requests/sec and the latency percentiles from `wrk --latency` output."""
    import re
    units = {"us": 1.0, "ms": 1e3, "s": 1e6}
    result: dict = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not match:
        return {"error": "wrk printed no rate: " + text.strip()[-200:]}
    result["rate"] = float(match.group(1))
    for label, key in (("50%", "p50_us"), ("99%", "p99_us")):
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if match:
            result[key] = float(match.group(1)) * units[match.group(2)]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    result["socket_errors"] = sum(map(int, errors.groups())) if errors else 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    return result


def measure_http(server: Server, path: str, connections: int, args,
                 wine: WineSession | None) -> dict:
    with running(server, wine) as process:
        threads = 1 if connections == 1 else 2
        done = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{args.http_seconds}s",
                               "--latency", f"http://{process.host}:{process.port}{path}"],
                              capture_output=True, text=True, timeout=300)
    return parse_wrk(done.stdout + done.stderr)


def measure_setup_rate(server: Server, args, wine: WineSession | None, native: Path) -> dict:
    with running(server, wine) as process:
        done = subprocess.run(
            [loadgen_path(native), "--port", str(process.port), "--connect-rate",
             str(args.setup_count), "--concurrency", str(server.setup_concurrency)],
            capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": done.stderr.strip()}


# --- the ladder ------------------------------------------------------------------------------

def point_line(result: dict) -> str:
    """One run of a point in a line: rate, fairness, tail, and the cost per round trip."""
    line = (f"{result['rate']:,.0f} rt/s, p99 {result['p99_us'] / 1000:.2f} ms, worst "
            f"{result.get('worst_us', 0) / 1000:.1f} ms, fairness {result['fairness']:.2f}, "
            f"{result.get('starved', 0)} starved, "
            f"{result['memory_per_connection'] / 1024:.1f} KiB/conn")
    cost = [f"{label} {result[key]:,.1f} µs" for key, label in
            (("server_us_per_rt", "server"), ("wineserver_us_per_rt", "wineserver"),
             ("loadgen_us_per_rt", "loadgen")) if key in result]
    cost += [f"{label} {result[key]:,.2f} syscalls" for key, label in
             (("server_syscalls_per_rt", "server"), ("wineserver_syscalls_per_rt", "wineserver"))
             if key in result]
    if cost:
        line += "; per round trip: " + ", ".join(cost)
    return line + (" (pinned)" if result.get("pinned") else "")


# Summarized (median, min, max) for an echo point when every good run has the figure.
ECHO_METRICS = ["rate", "p50_us", "p99_us", "p999_us", "worst_us", "fairness", "starved",
                "memory_per_connection", "server_cpu", "wineserver_cpu", "loadgen_cpu",
                "server_us_per_rt", "wineserver_us_per_rt", "loadgen_us_per_rt",
                "server_syscalls_per_rt", "wineserver_syscalls_per_rt"]


def summarize(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run_ladder(args) -> dict:
    build, native = Path(args.build_dir), Path(args.native_dir)
    # An --extra server is run whatever --stage and --group say: it was asked for by name.
    chosen, skipped = built([s for s in servers(build, native, Path(args.linux_dir))
                             if wanted(s, args)] + extra_servers(args.extra))
    args.syscalls = not args.no_syscalls
    if args.syscalls and (why := syscalls_countable()):
        print(f"system calls not counted: {why}")
        args.syscalls = False
    sizes = args.size or SIZES
    counts = args.connections or CONNECTIONS
    plan = [(run, size, n, s) for run in range(args.runs) for size in sizes for n in counts
            for s in chosen if n in s.connections]
    setup_plan = [] if args.no_setup else [(run, s) for run in range(args.runs) for s in chosen]
    http_chosen = [s for s in http_servers(build) if wanted(s, args)]
    if args.no_http or not shutil.which("wrk"):
        http_chosen = []
    http_chosen, http_skipped = built(http_chosen)
    skipped += http_skipped
    http_plan = [(run, path, n, s) for run in range(args.runs) for path in HTTP_PATHS
                 for n in (args.connections or HTTP_CONNECTIONS) if n in HTTP_CONNECTIONS
                 for s in http_chosen]
    total = len(plan) + len(setup_plan) + len(http_plan)

    wine = None
    if not ON_WINDOWS and any(s.wine for s in chosen + http_chosen):
        wine = WineSession(build / "wine-run")
        wine.start()
    raw: dict[str, list] = {}
    started = time.monotonic()
    try:
        step = 0
        for run, size, n, server in plan:
            step += 1
            print(f"[{step}/{total}] {server.name} · {n} connections · {size} B · "
                  f"run {run + 1}/{args.runs} ...", end=" ", flush=True)
            result = measure(server, n, size, args, wine, native)
            raw.setdefault(f"{server.name}|{size}|{n}", []).append(result)
            if "error" in result:
                print("error:", result["error"])
            else:
                print(point_line(result))
        for run, server in setup_plan:
            step += 1
            print(f"[{step}/{total}] {server.name} · connection setup · run {run + 1}/{args.runs}"
                  " ...", end=" ", flush=True)
            result = measure_setup_rate(server, args, wine, native)
            raw.setdefault(f"{server.name}|setup", []).append(result)
            print(f"{result.get('rate', 0):,.0f} connections/s" if "error" not in result
                  else f"error: {result['error']}")
        for run, path, n, server in http_plan:
            step += 1
            print(f"[{step}/{total}] {server.name} · wrk {path} · {n} connections · "
                  f"run {run + 1}/{args.runs} ...", end=" ", flush=True)
            result = measure_http(server, path, n, args, wine)
            raw.setdefault(f"{server.name}|http|{path}|{n}", []).append(result)
            print(f"{result['rate']:,.0f} requests/s, p99 {result.get('p99_us', 0) / 1000:.2f} ms"
                  if "error" not in result else f"error: {result['error']}")
    finally:
        if wine:
            wine.stop()

    points = []
    for key, results in raw.items():
        good = [r for r in results if "error" not in r]
        name, *rest = key.split("|")
        point = {"server": name, "runs": len(results), "errors": len(results) - len(good)}
        if rest == ["setup"]:
            point["kind"] = "setup"
            if good:
                point["rate"] = summarize([r["rate"] for r in good])
        elif rest[0] == "http":
            point["kind"] = "http"
            point["path"], point["connections"] = rest[1], int(rest[2])
            for metric in ("rate", "p50_us", "p99_us", "socket_errors", "non_2xx"):
                if good and all(metric in r for r in good):
                    point[metric] = summarize([r[metric] for r in good])
        else:
            point["kind"] = "echo"
            point["size"], point["connections"] = int(rest[0]), int(rest[1])
            for metric in ECHO_METRICS:
                if good and all(r.get(metric) is not None for r in good):
                    point[metric] = summarize([r[metric] for r in good])
            if good:
                point["pinned"] = all(r.get("pinned") for r in good)
        points.append(point)
    requests = None
    counted = [s for s in chosen if s.wine]
    if counted and not ON_WINDOWS and not args.no_requests:
        import wineserver_requests  # bench/wineserver_requests.py
        requests = wineserver_requests.count_servers(counted, build, native)
    return {
        "date": datetime.date.today().isoformat(),
        "machine": machine_description(),
        "runtime": runtime_description(),
        "settings": {"runs": args.runs, "warmup_ms": args.warmup_ms,
                     "warmup_round_trips": args.warmup_round_trips,
                     "duration_ms": args.duration_ms, "setup_count": args.setup_count,
                     "pin": args.pin if processors() >= 2 and shutil.which("taskset") else "none",
                     "syscalls": SYSCALL_EVENT if args.syscalls else None},
        "minutes": round((time.monotonic() - started) / 60, 1),
        "servers": [s.description() for s in chosen],
        "skipped": skipped,
        "http_servers": [s.name for s in http_chosen],
        "http_seconds": args.http_seconds,
        "http_files": http_file_sizes(build) if http_chosen else {},
        "points": points,
        **({"wineserver_requests": requests} if requests else {}),
    }


def machine_description() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            memory = f", {int(info.readline().split()[1]) / (1 << 20):.0f} GiB"
    except OSError:
        pass
    return f"{processors()} logical processors ({model}){memory}, {platform.system()} " \
           f"{platform.release()}"


def runtime_description() -> str:
    if ON_WINDOWS:
        return f"Windows {platform.version()}, native"
    wine = subprocess.run(["wine", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{wine} on {platform.system()}, the stages cross-compiled with MinGW-w64"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", action="append",
                        help="a server by the start of its name: 07, 04, asio (repeatable)")
    parser.add_argument("--group", choices=["windows", "native"],
                        help="only the Windows programs (under Wine here) or only the native ones")
    parser.add_argument("--connections", type=int, action="append")
    parser.add_argument("--size", type=int, action="append")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup-ms", type=int, default=300)
    parser.add_argument("--duration-ms", type=int, default=1000)
    parser.add_argument("--setup-count", type=int, default=1000,
                        help="connections opened per connection-setup measurement")
    parser.add_argument("--no-setup", action="store_true", help="skip the setup-rate points")
    parser.add_argument("--no-http", action="store_true", help="skip stage 09's wrk points")
    parser.add_argument("--no-requests", action="store_true",
                        help="skip counting wineserver requests per echo")
    parser.add_argument("--http-seconds", type=int, default=2, help="each wrk run's length")
    parser.add_argument("--report", action="store_true",
                        help="rewrite the report even though only part of the ladder ran")
    parser.add_argument("--build-dir", default=str(REPO / "build" / (
        "windows-msvc" if ON_WINDOWS else "linux-mingw-wine")))
    parser.add_argument("--native-dir", default=str(REPO / "build" / "bench-native"))
    parser.add_argument("--linux-dir", default=str(REPO / "build" / "linux-native" / "bin"),
                        help="where the Linux twins of stages/linux/ are built")
    parser.add_argument("--results", default=DEFAULT_RESULTS)
    parser.add_argument("--warmup-round-trips", type=int, default=3,
                        help="the warm-up lasts at least this many round trips per connection "
                             "on average (so that connections are not in lockstep)")
    parser.add_argument("--pin", choices=["native", "all", "none"], default="native",
                        help="taskset the load generator to core 0 and the server to the others "
                             "(with 2 cores or more): the native programs (default), all, none")
    parser.add_argument("--no-syscalls", action="store_true",
                        help="do not count system calls per round trip (perf)")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PROGRAM",
                        help="one more server by path, with optional arguments: "
                             "old08=/work/old/stage08_async_echo.exe (repeatable)")
    parser.add_argument("--quick-fairness", action="store_true",
                        help="stage 07, 08, 10 and the --extra servers at 1,000 connections, "
                             "64 B, 3 s windows, three runs: the fairness table, nothing "
                             "rewritten")
    args = parser.parse_args()
    if args.quick_fairness:
        quick_fairness(args)

    results = run_ladder(args)
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nresults: {out} ({results['minutes']} minutes)")
    import report  # bench/report.py
    if args.quick_fairness:
        print("\n" + report.quick_fairness_table(results))
        return 0

    full = not (args.stage or args.group or args.connections or args.size or args.extra)
    if full or args.report:
        saved = REPO / "notes" / "benchmarks.json"
        if "wineserver_requests" not in results and saved.is_file():
            # Not counted this time (--no-requests): the report keeps the last counts, dated.
            earlier = json.loads(saved.read_text()).get("wineserver_requests")
            if earlier:
                results["wineserver_requests"] = earlier
        report.write(results, REPO / "notes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
