#!/usr/bin/env python3
"""Count the wineserver requests one echo costs, by kind, for each server given.

Under Wine every socket call and every completion-port wait is a request to wineserver, a
separate single-threaded process; how many requests an echo takes explains much of how fast a
design can go there. wineserver's own debug output (-d1) names every request it serves. This
runs a persistent wineserver with it, drives each server with one connection for a second, and
divides the counts by the number of echoes (the send_socket requests: one per echo for every
server measured here).

    bench/run.sh builds what this needs; then:
    /usr/bin/python3 bench/wineserver_requests.py stage07_iocp_server.exe \
        "peer_asio_echo.exe --threads 4"
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from harness.process import ServerProcess, WineSession  # noqa: E402

BUILD = REPO / "build" / "linux-mingw-wine"
LOADGEN = REPO / "build" / "bench-native" / "loadgen"
REQUEST = re.compile(r"^[0-9a-f]{4}: (\w+)\(", re.M)


def count(session: WineSession, command: str) -> tuple[int, collections.Counter]:
    exe, *args = command.split()
    trace_path = BUILD / f"wineserver-trace-{Path(exe).stem}.txt"
    with open(trace_path, "w", encoding="utf-8") as trace:
        server = subprocess.Popen(["wineserver", "-p", "-f", "-d1"], env=session.env,
                                  stdout=subprocess.DEVNULL, stderr=trace)
        time.sleep(0.5)
        subprocess.run([str(session.wine_run), "cmd", "/c", "exit"], env=session.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        process = ServerProcess([str(session.wine_run), str(BUILD / "bin" / exe), *args,
                                 "--port", "0"], env=session.env)
        _, port = process.wait_listening()
        time.sleep(0.5)
        trace.flush()
        start = os.path.getsize(trace_path)
        subprocess.run([str(LOADGEN), "--port", str(port), "--connections", "1", "--size", "64",
                        "--warmup-ms", "200", "--duration-ms", "1000"],
                       capture_output=True, check=True)
        time.sleep(0.2)
        end = os.path.getsize(trace_path)
        process.kill()
        subprocess.run(["wineserver", "-k"], env=session.env, check=False)
        server.wait()
    with open(trace_path, encoding="utf-8", errors="replace") as trace:
        trace.seek(start)
        requests = collections.Counter(REQUEST.findall(trace.read(end - start)))
    return requests["send_socket"], requests


def main(commands: list[str]) -> int:
    session = WineSession(BUILD / "wine-run")
    session.start()
    session.stop()  # a ready prefix; each count starts its own, traced, wineserver
    for command in commands or ["stage07_iocp_server.exe", "peer_asio_echo.exe --threads 4"]:
        echoes, requests = count(session, command)
        total = sum(requests.values())
        print(f"{command}: {echoes} echoes, {total / max(echoes, 1):.1f} wineserver requests each")
        for name, number in requests.most_common():
            if number >= echoes / 10:
                print(f"    {name:28s} {number / max(echoes, 1):5.2f} per echo")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
