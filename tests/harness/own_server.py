#!/usr/bin/env python3
"""An echo server in Python that keeps the stage contract: an example of a program of your own
under the tests (README, "Test your own server"). It passes stage 02's row:

    scripts/test.sh --exe tests/harness/own_server.py --as 02

What the tests ask of any program they run in a stage's place, and how this one does it:
- --host ADDR (a numeric IPv4 or IPv6 address, default 127.0.0.1), --port N (default 8080; 0
  picks a free port), --help (the usage on stdout, exit 0); bad arguments: the usage on stderr,
  exit 2 (argparse does all of that);
- a port that is taken: one line on stderr naming it, exit 1;
- when ready: `listening on ADDR:PORT` on stdout, with the real port ([ADDR] for IPv6);
- `client N connected from PEER (K live)` and `client N disconnected: WHY (K live)`, N counting
  clients from 1, K the clients connected after the change;
- Ctrl+C (Ctrl+Break on Windows): every client let go, `stopped: ...` as the last line, exit 0.

One thread serves everyone with non-blocking sockets and a selector, as stage 04 does with
select(). (A thread per client, as in stage 02, is just as correct, but its count of live clients
depends on when each thread gets a processor: on a busy machine a client's thread may notice the
client's end tens of milliseconds late, while the next clients come and go, and the cycles test
allows only a few clients live at once. One loop sees a client's end of stream no later than the
next client's connection.)

With OWN_SERVER_FLAW=nul-to-space in its environment it has one flaw: it echoes every NUL byte
as a space, as a server that treats the data as text might. tests/clients/test_own_server.py
shows that the tests then fail it, and where.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import selectors
import signal
import socket
import sys
import threading

ON_WINDOWS = sys.platform == "win32"
FLAW = os.environ.get("OWN_SERVER_FLAW", "")

# Python runs a signal handler only when the main thread is back in the interpreter, and on
# Windows a wait in select() is not cut short by Ctrl+Break (it arrives on a thread of its own).
# So the loop waits at most this long (seconds) at a time.
SELECT_WAIT = 0.2
# Echo waiting to be sent to one client, beyond which that client is not read from until it
# reads: what keeps a client that sends and never reads from costing more than this.
PENDING_CAP = 256 * 1024


def log(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def port_number(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A TCP echo server: one thread, a selector.")
    parser.add_argument("--host", metavar="ADDR", type=ipaddress.ip_address,
                        default=ipaddress.ip_address("127.0.0.1"),
                        help="numeric IPv4 or IPv6 address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", metavar="N", type=port_number, default=8080,
                        help="port to listen on (default 8080; 0 picks a free one)")
    return parser.parse_args()


def make_listener(host, port: int) -> socket.socket | None:
    family = socket.AF_INET6 if host.version == 6 else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    if ON_WINDOWS:
        # As the stages do: no other program may bind this port while we listen on it.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
        # Linux: lets a restart bind while old connections are in TIME_WAIT; a port that another
        # socket listens on still cannot be bound.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((str(host), port))
        listener.listen(socket.SOMAXCONN)
    except OSError as error:
        listener.close()
        print(f"cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return None
    listener.setblocking(False)
    return listener


class Client:
    def __init__(self, number: int, sock: socket.socket):
        self.number = number
        self.sock = sock
        self.pending = bytearray()  # received, not yet taken back by the kernel
        self.finished = False       # the client has sent its FIN: close once pending is sent


class Server:
    def __init__(self, listener: socket.socket):
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, None)
        self.clients: dict[int, Client] = {}
        self.clients_served = 0
        self.bytes_echoed = 0

    def serve_until(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            for key, _ in self.selector.select(SELECT_WAIT):
                if key.data is None:
                    self.handle_new_client()
                else:
                    self.handle_client(key.data)
        for client in list(self.clients.values()):
            self.let_go(client, "server stopping")
        self.selector.close()

    def handle_new_client(self) -> None:
        try:
            sock, peer = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return  # the client gave up before we got to it
        except OSError as error:  # out of descriptors, say: keep serving the others
            log(f"accept failed: {error}")
            return
        sock.setblocking(False)
        self.clients_served += 1
        client = Client(self.clients_served, sock)
        self.clients[client.number] = client
        self.selector.register(sock, selectors.EVENT_READ, client)
        log(f"client {client.number} connected from {format_address(peer)} "
            f"({len(self.clients)} live)")

    def handle_client(self, client: Client) -> None:
        if not client.finished and len(client.pending) < PENDING_CAP:
            try:
                data = client.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None  # only writable this time
            except OSError as error:
                self.let_go(client, f"recv failed: {error.strerror or error}")
                return
            if data == b"":
                client.finished = True
            elif data:
                client.pending += data.replace(b"\0", b" ") if FLAW == "nul-to-space" else data
        if client.pending:
            try:
                sent = client.sock.send(client.pending)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as error:
                self.let_go(client, f"send failed: {error.strerror or error}")
                return
            del client.pending[:sent]
            self.bytes_echoed += sent
        if client.finished and not client.pending:
            self.let_go(client, "closed by the client")
            return
        # Read while there is room for the echo; wait for writability while echo is pending.
        events = selectors.EVENT_WRITE if client.pending else 0
        if not client.finished and len(client.pending) < PENDING_CAP:
            events |= selectors.EVENT_READ
        self.selector.modify(client.sock, events, client)

    def let_go(self, client: Client, why: str) -> None:
        self.selector.unregister(client.sock)
        client.sock.close()
        del self.clients[client.number]
        log(f"client {client.number} disconnected: {why} ({len(self.clients)} live)")


def format_address(address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main() -> int:
    args = parse_arguments()
    stopping = threading.Event()

    def on_ctrl_c(signum, frame):
        stopping.set()

    # Set before `listening on`: a test may send Ctrl+C as soon as it reads that line.
    signal.signal(signal.SIGINT, on_ctrl_c)
    if hasattr(signal, "SIGBREAK"):
        signal.signal(signal.SIGBREAK, on_ctrl_c)  # Windows: the tests send Ctrl+Break

    listener = make_listener(args.host, args.port)
    if listener is None:
        return 1
    log(f"listening on {format_address(listener.getsockname())}")
    with listener:
        server = Server(listener)
        server.serve_until(stopping)
    log(f"stopped: {server.clients_served} clients served, {server.bytes_echoed} bytes echoed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
