#!/usr/bin/env python3
"""A fake echo server whose behaviour the benchmark's tests know in advance: it echoes every byte,
except that connection number `silent` (in the order accepted, from 0) gets its first 64 bytes
echoed, so that the load generator counts it as connected, and nothing after that: what it sends
is read and never answered.

Used in the tests' own process (FakeEchoServer) and as a program that keeps the stage contract
bench/run.py relies on: `--port 0`, a flushed `listening on HOST:PORT`, Ctrl+C ends it with 0.

    fake_echo_server.py [--host H] [--port P] [--silent N]
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading


class FakeEchoServer:
    def __init__(self, silent: int | None = None, host: str = "127.0.0.1", port: int = 0):
        self.silent = silent
        self.listener = socket.create_server((host, port))
        self.host, self.port = self.listener.getsockname()[:2]
        self.clients: list[socket.socket] = []
        self.stopping = False
        self.acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self.acceptor.start()
        return self

    def __exit__(self, *_):
        self.stopping = True
        self.listener.close()
        for client in self.clients:
            try:
                client.close()
            except OSError:
                pass

    def _accept(self):
        index = 0
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.clients.append(client)
            threading.Thread(target=self._serve, args=(client, index == self.silent),
                             daemon=True).start()
            index += 1

    @staticmethod
    def _serve(client: socket.socket, silent: bool):
        echoed = 0
        try:
            while data := client.recv(65536):
                if silent and echoed >= 64:
                    continue  # read and dropped: this client's round trip never ends
                client.sendall(data)
                echoed += len(data)
        except OSError:
            pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--silent", type=int, default=None)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with FakeEchoServer(args.silent, args.host, args.port) as server:
        print(f"listening on {server.host}:{server.port}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
