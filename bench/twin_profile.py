#!/usr/bin/env python3
"""bench/twin_profile.py — the Linux twins side by side with the native asio peer, for profiling.

Not the benchmark (bench/run.sh is): a small tool to compare a few server command lines at one
point, runs interleaved (A B C, A B C, ...) so that whatever else the machine does falls on all
of them alike. Per run it reports the rate, the server's CPU microseconds per round trip (from
/proc/PID/stat over the load generator's measured window), the load generator's, and the
machine's load average; with --syscalls, system calls and context switches per round trip of
the server (perf stat -e raw_syscalls:sys_enter,context-switches on the server's process,
during the measured window; perf adds a little cost, so those runs are apart from the rate's),
and reschedule interrupts per round trip on the whole machine (irq_vectors:reschedule_entry).

  bench/twin_profile.py --connections 100 --runs 5 --pin \\
      asio1='build/bench-native/asio_echo --port {port} --threads 1' \\
      uring1='build/linux-native/bin/stage08_io_uring --port {port} --workers 1'

--pin: the load generator on core 0, the server on core 1 (taskset). Needs build/bench-native
(bench/run.sh builds it) and build/linux-native (build_native); --syscalls needs perf (Debian's
package linux-perf) and the right to trace (root, or kernel.perf_event_paranoid <= 1). Medians
and ranges at the end; --json FILE keeps every run.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADGEN = os.path.join(REPO, "build", "bench-native", "loadgen")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    # utime and stime of the whole process (all threads): fields 14 and 15 of /proc/PID/stat.
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def one_run(command, args, syscalls):
    port = free_port()
    server_cmd = command.format(port=port).split()
    loadgen_cmd = [LOADGEN, "--port", str(port), "--connections", str(args.connections),
                   "--size", str(args.size), "--duration-ms", str(args.duration_ms)]
    if args.pin:
        server_cmd = ["taskset", "-c", "1"] + server_cmd
        loadgen_cmd = ["taskset", "-c", "0"] + loadgen_cmd
    server = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, cwd=REPO)
    try:
        for line in server.stdout:
            if "listening on" in line:
                break
        else:
            raise RuntimeError(f"{command}: exited before listening")
        subprocess.Popen(["cat"], stdin=server.stdout, stdout=subprocess.DEVNULL)  # drain its log
        load = load_average()
        loadgen = subprocess.Popen(loadgen_cmd, stdout=subprocess.PIPE, text=True)
        perf = None
        before = None
        result = None
        for line in loadgen.stdout:
            line = line.strip()
            if line == "measure-start":
                before = (time.monotonic(), cpu_seconds(server.pid))
                if syscalls:
                    perf = subprocess.Popen(
                        ["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter,context-switches",
                         "-p", str(server.pid)], stderr=subprocess.PIPE, text=True)
                    # Reschedule interrupts are counted on every processor (-a): whoever else
                    # runs on the machine adds to them too.
                    ipis = subprocess.Popen(
                        ["perf", "stat", "-x", ",", "-a", "-e", "irq_vectors:reschedule_entry"],
                        stderr=subprocess.PIPE, text=True)
            elif line == "measure-end":
                after = (time.monotonic(), cpu_seconds(server.pid))
                if perf:
                    perf.send_signal(signal.SIGINT)
                    ipis.send_signal(signal.SIGINT)
            elif line.startswith("{"):
                result = json.loads(line)
        loadgen.wait()
        counts = {}
        if perf:
            for row in perf.communicate()[1].splitlines() + ipis.communicate()[1].splitlines():
                parts = row.split(",")
                if len(parts) > 2 and parts[0].replace(".", "").isdigit():
                    counts[parts[2]] = float(parts[0])
        if not result or "rate" not in result:
            raise RuntimeError(f"{command}: loadgen said {result}")
        rate = result["rate"]
        seconds = after[0] - before[0]
        run = {
            "rate": rate,
            "server_us": (after[1] - before[1]) / (rate * seconds) * 1e6,
            "loadgen_us": result["loadgen_cpu"] / rate * 1e6,
            "fairness": result["fairness"],
            "p99_us": result["p99_us"],
            "load": load,
        }
        if counts:
            # perf's window is about the measured one (it starts a little later): per round
            # trip at the measured rate, over the same seconds.
            run["syscalls"] = counts.get("raw_syscalls:sys_enter", 0) / (rate * seconds)
            run["switches"] = counts.get("context-switches", 0) / (rate * seconds)
            run["ipis"] = counts.get("irq_vectors:reschedule_entry", 0) / (rate * seconds)
        return run
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("servers", nargs="+", help="NAME='command with {port}'")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--duration-ms", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pin", action="store_true")
    parser.add_argument("--syscalls", action="store_true",
                        help="count system calls and context switches (perf stat)")
    parser.add_argument("--json")
    args = parser.parse_args()
    servers = [s.split("=", 1) for s in args.servers]
    runs = {name: [] for name, _ in servers}
    for i in range(args.runs):
        for name, command in servers:
            run = one_run(command, args, args.syscalls)
            runs[name].append(run)
            print(f"run {i + 1} {name}: " + " ".join(f"{k}={v:.3g}" for k, v in run.items()),
                  flush=True)
    base = statistics.median(r["rate"] for r in runs[servers[0][0]])
    print(f"\n{args.connections} connections, {args.size} B, pinned={args.pin}, "
          f"{args.runs} runs each; ratio against {servers[0][0]}")
    for name, _ in servers:
        def cell(key, digits=3):
            values = [r[key] for r in runs[name] if key in r]
            if not values:
                return "-"
            return (f"{statistics.median(values):.{digits}g} "
                    f"[{min(values):.{digits}g}-{max(values):.{digits}g}]")
        ratio = statistics.median(r["rate"] for r in runs[name]) / base
        print(f"{name:>12}: rate {cell('rate')} ({ratio:.2f}x)  server µs {cell('server_us')}  "
              f"loadgen µs {cell('loadgen_us')}  syscalls {cell('syscalls')}  "
              f"switches {cell('switches', 2)}  IPIs {cell('ipis', 2)}  fairness {cell('fairness', 2)}  "
              f"load {cell('load', 2)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
