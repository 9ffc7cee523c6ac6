"""Echo servers with one deliberate flaw each, to show that the checks catch it.

    python broken_server.py --flaw FLAW [--host ADDR] [--port N]

It keeps the stage contract (prints `listening on ADDR:PORT`, exits 0 on Ctrl+C) so the same
harness starts and stops it. Flaws:

  none                   a correct thread-per-client echo server (the control: passes all)
  first-4k               echoes the first 4 KiB of each connection, then swallows the rest
  stops-at-nul           echoes each chunk only up to its first NUL byte (a strlen() bug)
  no-close-after-fin     echoes, but never closes after the client's FIN
  drops-partial-line     echoes whole lines only; bytes after the last newline are lost
  reorders               echoes each pair of chunks in swapped order
  dies-on-reset          exits when a client resets the connection
  global-send-lock       sends under one lock for all clients: one that never reads stalls all
  unbounded-queue        reads on while its echo waits in a queue: a client that never reads
                         makes the queue grow without end (no back-pressure)
"""

import argparse
import os
import queue
import signal
import socket
import sys
import threading

FLAWS = ["none", "first-4k", "stops-at-nul", "no-close-after-fin", "drops-partial-line",
         "reorders", "dies-on-reset", "global-send-lock", "unbounded-queue"]

SEND_LOCK = threading.Lock()
ACCEPT_WAIT = 0.2  # seconds; how soon Ctrl+C is seen on Windows (see main)


def serve_with_a_queue(client: socket.socket) -> None:
    """The unbounded-queue flaw: a reader that never waits for the writer."""
    pending: queue.Queue = queue.Queue()

    def writer() -> None:
        try:
            while (data := pending.get()) is not None:
                client.sendall(data)
        except OSError:
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        while data := client.recv(65536):
            pending.put(data)
    except OSError:
        pass
    pending.put(None)
    thread.join()
    client.close()


def serve(client: socket.socket, flaw: str) -> None:
    if flaw == "unbounded-queue":
        serve_with_a_queue(client)
        return
    echoed = 0
    pending_line = b""
    held = None
    try:
        while True:
            try:
                data = client.recv(4096)
            except ConnectionResetError:
                if flaw == "dies-on-reset":
                    os._exit(3)
                return
            if not data:
                break
            if flaw == "first-4k":
                data = data[:max(0, 4096 - echoed)]
            elif flaw == "stops-at-nul":
                data = data.split(b"\0", 1)[0]
            elif flaw == "drops-partial-line":
                pending_line += data
                *lines, pending_line = pending_line.split(b"\n")
                data = b"".join(line + b"\n" for line in lines)
            elif flaw == "reorders":
                if held is None:
                    held, data = data, b""
                else:
                    data, held = data + held, None
            try:
                if flaw == "global-send-lock":
                    with SEND_LOCK:  # held while a send blocks on a client that does not read
                        client.sendall(data)
                else:
                    client.sendall(data)
            except OSError:
                if flaw == "dies-on-reset":
                    os._exit(3)
                return
            echoed += len(data)
        if flaw == "reorders" and held:
            client.sendall(held)
        if flaw == "no-close-after-fin":
            threading.Event().wait()  # hold the connection open forever
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flaw", choices=FLAWS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()

    def stop(*_):
        print("stopped", flush=True)
        sys.stdout.flush()
        os._exit(0)  # the daemon threads of held connections die with the process

    # Before `listening on`: the harness may send Ctrl+C as soon as it reads that line.
    signal.signal(signal.SIGINT, stop)
    if hasattr(signal, "SIGBREAK"):
        signal.signal(signal.SIGBREAK, stop)  # Windows: the harness sends Ctrl+Break

    listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    listener.bind((args.host, args.port))
    listener.listen(128)
    print(f"listening on {args.host}:{listener.getsockname()[1]}", flush=True)

    # Windows runs no Python signal handler while the main thread is inside a blocking Winsock
    # call: Ctrl+Break arrives on a thread of its own, and the handler waits for the main thread
    # to come back to the interpreter. A blocking accept() would not come back until the next
    # client, so it waits at most ACCEPT_WAIT at a time. (The accepted sockets still block: "if
    # the listening socket is in blocking mode or in timeout mode, the socket returned by
    # accept() is in blocking mode", https://docs.python.org/3/library/socket.html#socket-timeouts)
    listener.settimeout(ACCEPT_WAIT)
    while True:
        try:
            client, _ = listener.accept()
        except socket.timeout:
            continue
        print("client connected", flush=True)
        threading.Thread(target=serve, args=(client, args.flaw), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
