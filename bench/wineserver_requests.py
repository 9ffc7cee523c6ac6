#!/usr/bin/env python3
"""Count the wineserver requests one echo costs, by kind, for each Windows server of the ladder.

Under Wine every socket call and every completion-port wait is a request to wineserver, a
separate single-threaded process; how many requests an echo takes explains much of how fast a
design can go there. wineserver's own debug output (-d1) names every request it serves. This
runs a persistent wineserver with it, drives each server with one connection for a second, and
divides the counts by the number of echoes (the send_socket requests: one per echo for every
server measured here: each sends its 64 bytes in one call).

    bench/run.sh builds what this needs, and runs this after the ladder; by hand:
    /usr/bin/python3 bench/wineserver_requests.py                  every built Windows server
    /usr/bin/python3 bench/wineserver_requests.py --stage 07 --stage 08
    /usr/bin/python3 bench/wineserver_requests.py --into notes/benchmarks.json
        ... and store the counts in saved results (python3 bench/report.py FILE renders them)
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from harness.process import ServerProcess, WineSession  # noqa: E402

REQUEST = re.compile(r"^[0-9a-f]{4}: (\w+)\(", re.M)
# A kind is reported when it comes at least this often per echo; rarer ones (start-up, timers)
# are left out of the per-kind figures but stay in the total.
SHOWN_PER_ECHO = 0.1


def count(session: WineSession, build: Path, loadgen: str, argv: list[str]
          ) -> tuple[int, collections.Counter]:
    """The echoes one connection completed in about a second, and the requests they cost."""
    trace_path = build / f"wineserver-trace-{Path(argv[0]).stem}.txt"
    with open(trace_path, "w", encoding="utf-8") as trace:
        server = subprocess.Popen(["wineserver", "-p", "-f", "-d1"], env=session.env,
                                  stdout=subprocess.DEVNULL, stderr=trace)
        time.sleep(0.5)
        subprocess.run([str(session.wine_run), "cmd", "/c", "exit"], env=session.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        process = ServerProcess([str(session.wine_run), *argv, "--port", "0"], env=session.env)
        try:
            _, port = process.wait_listening()
            time.sleep(0.5)
            trace.flush()
            start = os.path.getsize(trace_path)
            subprocess.run([loadgen, "--port", str(port), "--connections", "1", "--size", "64",
                            "--warmup-ms", "200", "--duration-ms", "1000"],
                           capture_output=True, check=True)
            time.sleep(0.2)
            end = os.path.getsize(trace_path)
        finally:
            process.kill()
            subprocess.run(["wineserver", "-k"], env=session.env, check=False)
            server.wait()
    with open(trace_path, encoding="utf-8", errors="replace") as trace:
        trace.seek(start)
        requests = collections.Counter(REQUEST.findall(trace.read(end - start)))
    return requests["send_socket"], requests


def count_servers(chosen, build: Path, native: Path) -> dict:
    """Counts for each of bench/run.py's Servers (Windows programs), in the form the report
    reads: {"connections", "size", "servers": {name: {"echoes", "per_echo", "kinds", "date"}}}."""
    import run  # bench/run.py
    session = WineSession(build / "wine-run")
    session.start()
    session.stop()  # a ready prefix; each count starts its own, traced, wineserver
    counted = {}
    for server in chosen:
        extra = server.per_point_args(1) if server.per_point_args else []
        echoes, requests = count(session, build, run.loadgen_path(native), server.argv + extra)
        total = sum(requests.values())
        if not echoes:
            print(f"wineserver requests: {server.name}: no echo seen; not counted")
            continue
        kinds = {name: round(number / echoes, 2) for name, number in requests.most_common()
                 if number / echoes >= SHOWN_PER_ECHO}
        counted[server.name] = {"echoes": echoes, "per_echo": round(total / echoes, 2),
                                "kinds": kinds, "date": datetime.date.today().isoformat()}
        print(f"wineserver requests: {server.name}: {echoes} echoes, "
              f"{total / echoes:.1f} requests each")
        for name, per_echo in kinds.items():
            print(f"    {name:28s} {per_echo:5.2f} per echo")
    return {"connections": 1, "size": 64, "servers": counted}


def main() -> int:
    import run  # bench/run.py
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", action="append",
                        help="a server by the start of its name, as bench/run.py takes it")
    parser.add_argument("--build-dir", default=str(REPO / "build" / "linux-mingw-wine"))
    parser.add_argument("--native-dir", default=str(REPO / "build" / "bench-native"))
    parser.add_argument("--into", help="a results file (notes/benchmarks.json) to store them in")
    args = parser.parse_args()

    build, native = Path(args.build_dir), Path(args.native_dir)
    chosen, _ = run.built([s for s in run.servers(build, native) if s.wine and (
        not args.stage or any(s.name.startswith(x) for x in args.stage))])
    counted = count_servers(chosen, build, native)
    if args.into:
        path = Path(args.into)
        results = json.loads(path.read_text())
        # Servers not counted this time keep their earlier counts (each says its date).
        stored = results.setdefault("wineserver_requests", counted)
        stored["servers"].update(counted["servers"])
        path.write_text(json.dumps(results, indent=1) + "\n")
        print(f"stored in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
