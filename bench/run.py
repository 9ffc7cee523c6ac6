#!/usr/bin/env python3
"""The benchmark ladder: every echo stage and the asio peers, at 1 to 10,000 connections.

    bench/run.sh                          the whole ladder; rewrites notes/benchmarks.md's
                                          generated parts, notes/benchmarks.png and .json
    bench/run.sh --stage 07 --connections 100 --size 64
                                          one point (repeatable options; nothing rewritten
                                          unless --report is given)
    bench/run.sh --group native           only the programs that run without Wine

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
server meanwhile: its resident memory, its CPU and, under Wine, wineserver's CPU. Every point
runs --runs times (3), servers interleaved, and the report gives the median with min and max.
Under Wine, bench/wineserver_requests.py then counts the wineserver requests each echo costs.
Benchmarks report; they assert nothing about time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from harness.process import ON_WINDOWS, ServerProcess, WineSession  # noqa: E402

CONNECTIONS = [1, 10, 100, 1000, 10000]
SIZES = [64, 4096]


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
# counts, and worker threads per processor (None: one thread, the model has no workers). Their
# defaults: 07 twice the processors, as stage 07 (a worker blocked in send() leaves the others to
# serve); 08 one per processor (none of its workers ever waits on a client). bench/run.sh builds
# stages/linux/ and expects each twin at <--linux-dir>/stageNN_<name>, the Windows stages'
# naming without .exe.
LINUX_TWINS = [
    ("01_blocking_echo", "01 blocking (Linux)", [1], None),
    ("04_poll", "04 poll (Linux)", CONNECTIONS, None),
    ("07_epoll", "07 epoll (Linux)", CONNECTIONS, 2),
    ("08_io_uring", "08 io_uring (Linux)", CONNECTIONS, 1),
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
        Server(f"asio, {processors()} threads", [exe("peer_asio_echo.exe"), "--threads",
                                                 str(processors())], CONNECTIONS, stage=False,
               threads=processors()),
        Server(f"asio, {workers} threads", [exe("peer_asio_echo.exe"), "--threads", str(workers)],
               CONNECTIONS, stage=False, threads=workers),
    ]
    if ON_WINDOWS:  # the peers above already run natively, and the twins are Linux programs
        return found
    linux = linux or build.parent / "linux-native" / "bin"
    for folder, name, connections, per_processor in LINUX_TWINS:
        # A twin with workers gets their count on the command line (its own default), as 07 and
        # 08 do above, so that the native peer it is graded against has as many threads.
        twin_workers = per_processor * processors() if per_processor else None
        found.append(Server(name, [str(linux / f"stage{folder}")]
                            + (["--workers", str(twin_workers)] if twin_workers else []),
                            connections, wine=False,
                            why_not="one client at a time" if connections == [1] else "",
                            threads=twin_workers or 1,
                            setup_concurrency=1 if connections == [1] else 32))
    # The native peer with one thread (like the single-threaded twins) and with every worker
    # count a twin has: each twin is graded against the peer with as many threads.
    counts = {1} | {s.threads for s in found if not s.wine and s.threads}
    for threads in sorted(counts):
        found.append(Server(f"asio native, {threads} thread{'s' if threads > 1 else ''}",
                            [str(native / "asio_echo"), "--threads", str(threads)], CONNECTIONS,
                            wine=False, stage=False, threads=threads))
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
def running(server: Server, wine: WineSession | None, extra: list[str] | None = None):
    """The server, started on a free port (under Wine unless it is native or we are on
    Windows), and stopped afterwards: a stage with Ctrl+C, a peer killed."""
    argv = server.argv + (extra or []) + ["--port", "0"]
    if server.wine and not ON_WINDOWS:
        argv = [str(wine.wine_run)] + argv
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
    with running(server, wine, extra) as process:
        time.sleep(0.2)
        baseline = process.memory_bytes()
        warmup_ms, duration_ms = windows_for(connections, args)
        loadgen = subprocess.Popen(
            [loadgen_path(native), "--port", str(process.port), "--connections", str(connections),
             "--size", str(size), "--warmup-ms", str(warmup_ms), "--duration-ms", str(duration_ms)],
            stdout=subprocess.PIPE, text=True)
        wineserver = wine.server.pid if (wine and server.wine) else None
        result, sampled = None, {}
        for line in loadgen.stdout:
            if line.startswith("measure-start"):
                sampled["memory"] = process.memory_bytes()
                sampled["t0"] = time.monotonic()
                sampled["cpu0"] = cpu_seconds(process.proc.pid)
                sampled["ws0"] = cpu_seconds(wineserver) if wineserver else 0.0
            elif line.startswith("measure-end"):
                elapsed = time.monotonic() - sampled["t0"]
                sampled["server_cpu"] = (cpu_seconds(process.proc.pid) - sampled["cpu0"]) / elapsed
                sampled["wineserver_cpu"] = ((cpu_seconds(wineserver) - sampled["ws0"]) / elapsed
                                             if wineserver else None)
            elif line.startswith("{"):
                result = json.loads(line)
        loadgen.wait(timeout=300)
    if result is None or "error" in result:
        return {"error": (result or {}).get("error", "the load generator printed nothing")}
    result["memory_per_connection"] = (sampled["memory"] - baseline) / connections
    result["server_memory"] = sampled["memory"]
    result["server_cpu"] = sampled["server_cpu"]
    result["wineserver_cpu"] = sampled["wineserver_cpu"]
    return result


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

def summarize(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run_ladder(args) -> dict:
    build, native = Path(args.build_dir), Path(args.native_dir)
    chosen, skipped = built([s for s in servers(build, native, Path(args.linux_dir))
                             if wanted(s, args)])
    sizes = args.size or SIZES
    counts = args.connections or CONNECTIONS
    plan = [(run, size, n, s) for run in range(args.runs) for size in sizes for n in counts
            for s in chosen if n in s.connections]
    setup_plan = [] if args.no_setup else [(run, s) for run in range(args.runs) for s in chosen]
    http_chosen = [s for s in http_servers(build) if wanted(s, args)]
    import shutil
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
                print(f"{result['rate']:,.0f} rt/s, p99 {result['p99_us'] / 1000:.2f} ms, "
                      f"{result['memory_per_connection'] / 1024:.1f} KiB/conn")
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
            if good:
                for metric in ("rate", "p50_us", "p99_us", "p999_us", "fairness",
                               "memory_per_connection", "server_cpu", "loadgen_cpu"):
                    point[metric] = summarize([r[metric] for r in good])
                if all(r["wineserver_cpu"] is not None for r in good):
                    point["wineserver_cpu"] = summarize([r["wineserver_cpu"] for r in good])
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
                     "duration_ms": args.duration_ms, "setup_count": args.setup_count},
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
    parser.add_argument("--results", default=str(REPO / "build" / "bench" / "results.json"))
    args = parser.parse_args()

    results = run_ladder(args)
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nresults: {out} ({results['minutes']} minutes)")

    full = not (args.stage or args.group or args.connections or args.size)
    if full or args.report:
        import report  # bench/report.py
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
