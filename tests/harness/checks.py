"""Client-side checks, each a plain function of a server address.

They are kept out of the test files so that test_harness.py can run the very same checks
against deliberately broken servers and show that each check fails them. A check raises
AssertionError with a message that says what a learner's server did wrong.

Timeouts here are hang guards, generous because Wine is slow: a correct server passes however
slow the machine, and a broken one fails by what it sends, not by how fast.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time

IO_TIMEOUT = 30.0        # any single wait for bytes from a correct server
ABSENCE_WAIT = 1.0       # how long "nothing arrives" is watched for


def connect(host: str, port: int, timeout: float | None = None) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(IO_TIMEOUT if timeout is None else timeout)
    try:
        sock.connect((host, port))
    except OSError as error:
        sock.close()
        raise AssertionError(f"cannot connect to {host}:{port}: {error}") from None
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly `size` bytes, or fail saying how many came before EOF or the timeout."""
    chunks, got = [], 0
    while got < size:
        try:
            chunk = sock.recv(min(65536, size - got))
        except socket.timeout:
            raise AssertionError(f"expected {size} bytes, got {got} and then nothing for "
                                 f"{sock.gettimeout():.0f} s") from None
        except ConnectionError as error:
            raise AssertionError(f"expected {size} bytes, got {got} and then {error}") from None
        if not chunk:
            raise AssertionError(f"expected {size} bytes, got {got} and then end of stream")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock: socket.socket, limit: int = 64 << 20) -> bytes:
    """Everything until the server closes its side; fail if it never does."""
    chunks, got = [], 0
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"got {got} bytes, then neither more bytes nor end of stream "
                                 f"for {sock.gettimeout():.0f} s") from None
        except ConnectionError as error:
            raise AssertionError(f"got {got} bytes, then {error} instead of end of stream") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        got += len(chunk)
        if got > limit:
            raise AssertionError(f"more than {limit} bytes without end of stream")


def nothing_arrives(sock: socket.socket, wait: float | None = None) -> bool:
    """True if no byte (and no end of stream) arrives on `sock` within `wait` seconds."""
    readable, _, _ = select.select([sock], [], [], ABSENCE_WAIT if wait is None else wait)
    return not readable


def no_reset_follows(sock: socket.socket, wait: float = 1.0) -> bool:
    """After end of stream: True if no reset (RST) arrives within `wait` seconds either — the
    server closed gracefully. A server that closes with bytes of ours unread sends a reset,
    which Linux reports afterwards as the socket's pending error."""
    time.sleep(wait)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def reset(sock: socket.socket) -> None:
    """Close abortively: SO_LINGER with a zero timeout makes close() send RST, not FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def echo_round_trip(host: str, port: int, payload: bytes) -> None:
    with connect(host, port) as sock:
        sock.sendall(payload)
        got = recv_exactly(sock, len(payload))
        assert got == payload, f"sent {payload!r}, got back {got!r}"


def exchange_while_sending(sock: socket.socket, payload: bytes, chunk: int = 16384) -> bytes:
    """Send `payload` from a second thread while this one reads the same length back.

    Reading while writing matters: an echo server sends back as it receives, so a client that
    wrote 1 MiB before reading anything would fill both directions' buffers and deadlock with
    a perfectly correct server.
    """
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for start in range(0, len(payload), chunk):
                sock.sendall(payload[start:start + chunk])
        except BaseException as error:  # reported by the reader's assertion below
            errors.append(error)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        got = recv_exactly(sock, len(payload))
    finally:
        thread.join(IO_TIMEOUT)
    assert not errors, f"sending failed: {errors[0]!r}"
    return got


def first_difference(expected: bytes, got: bytes) -> str:
    for index, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            return f"first difference at byte {index}: expected 0x{a:02x}, got 0x{b:02x}"
    return f"lengths differ: expected {len(expected)}, got {len(got)}"


def binary_payload(size: int, seed: int = 1) -> bytes:
    """Random bytes with plenty of NULs, CRs and LFs: what breaks text-minded servers."""
    rng = random.Random(seed)
    data = bytearray(rng.getrandbits(8) for _ in range(size))
    for index in range(0, size, 97):
        data[index] = 0
    for index in range(13, size, 101):
        data[index] = 0x0A
    return bytes(data)


# --- the echo checks ------------------------------------------------------------------------

def check_line_echo(host: str, port: int) -> None:
    """Lines typed into telnet come back exactly, one at a time."""
    with connect(host, port) as sock:
        for line in (b"hello\r\n", b"second line\n", b"\xc3\xa9t\xc3\xa9 \xe2\x82\xac\n"):
            sock.sendall(line)
            got = recv_exactly(sock, len(line))
            assert got == line, f"sent {line!r}, got back {got!r}"


def check_binary_echo(host: str, port: int, size: int = 1 << 20) -> None:
    """1 MiB of binary data, NUL bytes included, comes back byte for byte."""
    payload = binary_payload(size)
    with connect(host, port) as sock:
        got = exchange_while_sending(sock, payload)
    assert got == payload, "binary echo differs: " + first_difference(payload, got)


def check_small_writes_in_order(host: str, port: int, count: int = 200) -> None:
    """200 small separate writes come back complete and in order (TCP is a byte stream)."""
    pieces = [f"<{index:03d}>".encode() for index in range(count)]
    expected = b"".join(pieces)
    with connect(host, port) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # separate segments
        for piece in pieces:
            sock.sendall(piece)
        got = recv_exactly(sock, len(expected))
    assert got == expected, "small writes came back wrong: " + first_difference(expected, got)


def check_half_close(host: str, port: int, size: int = 100_000) -> None:
    """After the client's FIN (shutdown of its sending side), everything it sent before comes
    back, and then the server closes its side too: the client sees end of stream."""
    payload = binary_payload(size, seed=2) + b"no newline at the end"
    with connect(host, port) as sock:
        writer = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(socket.SHUT_WR)),
                                  daemon=True)
        writer.start()
        got = recv_until_eof(sock)
        writer.join(IO_TIMEOUT)
    assert got == payload, "after half-close: " + first_difference(payload, got)


def check_survives_reset(host: str, port: int) -> None:
    """A client that resets in the middle of a transfer does not take the server down: the
    next client is echoed as before."""
    sock = connect(host, port)
    sock.sendall(binary_payload(256 * 1024, seed=3))  # the server is busy echoing this...
    reset(sock)                                       # ...when the connection is reset
    sock = connect(host, port)
    sock.sendall(b"x" * 10)
    reset(sock)                                       # and once more, with little in flight
    # A server that a reset kills dies within moments of it; give it those moments, so that
    # the round trip below cannot slip in first.
    time.sleep(0.5)
    echo_round_trip(host, port, b"still here after the resets\n")


# --- taught limits --------------------------------------------------------------------------

def check_n_clients_at_a_time(host: str, port: int, n: int) -> None:
    """A server that serves `n` clients at once and no more: while `n` are connected, one more
    client's connection is accepted by the system (the backlog, or the server's queue) but not
    served; when one of the `n` leaves, it is served."""
    served = []
    try:
        for index in range(n):
            sock = connect(host, port)
            served.append(sock)
            message = b"served %d\n" % index
            sock.sendall(message)
            assert recv_exactly(sock, len(message)) == message, f"client {index} was not echoed"
        waiting = connect(host, port)
        try:
            waiting.sendall(b"next\n")
            # The served ones keep being echoed while the extra one waits: busy, not stuck.
            for round_number in range(3):
                for index, sock in enumerate(served):
                    message = b"again %d.%d\n" % (index, round_number)
                    sock.sendall(message)
                    assert recv_exactly(sock, len(message)) == message, \
                        f"client {index} stopped being echoed"
            assert nothing_arrives(waiting), \
                f"client {n + 1} was echoed while {n} others were connected: more than {n} at once"
            served.pop(0).close()
            assert recv_exactly(waiting, 5) == b"next\n", \
                f"client {n + 1} was not echoed after another client left"
        finally:
            waiting.close()
    finally:
        for sock in served:
            sock.close()


def check_one_client_at_a_time(host: str, port: int) -> None:
    """Stage 01's limit: while client A is connected, client B's connection is accepted by the
    system (the backlog) but not served; when A leaves, B is served."""
    check_n_clients_at_a_time(host, port, 1)


# --- many clients at once -------------------------------------------------------------------

def check_concurrent_clients(host: str, port: int, count: int = 200) -> None:
    """`count` clients connected at the same time, each echoed its own payload. All connect
    first, then all send, then all read: a server that served one at a time would never get
    past the first."""
    clients = []
    try:
        for index in range(count):
            clients.append(connect(host, port))
        payloads = [f"client {index:05d} says hello\n".encode() * (1 + index % 7)
                    for index in range(count)]
        for sock, payload in zip(clients, payloads):
            sock.sendall(payload)
        for index, (sock, payload) in enumerate(zip(clients, payloads)):
            got = recv_exactly(sock, len(payload))
            assert got == payload, f"client {index} got another payload back: {got[:40]!r}"
    finally:
        for sock in clients:
            sock.close()


def check_silent_client_does_not_delay_others(host: str, port: int) -> None:
    """A client that connects and says nothing must not hold up the others."""
    with connect(host, port) as silent:
        for index in range(5):
            echo_round_trip(host, port, f"not delayed {index}\n".encode())
        assert nothing_arrives(silent, 0.1)


def check_limit_refuses_one_more(host: str, port: int, limit: int) -> None:
    """`limit` clients are all served at once; one more gets a line saying why, then end of
    stream — never silence; when one of the others leaves, a newcomer is served again."""
    clients = []
    try:
        for index in range(limit):
            sock = connect(host, port)
            clients.append(sock)
            message = b"member %d\n" % index
            sock.sendall(message)
            assert recv_exactly(sock, len(message)) == message, f"client {index} not echoed"
        with connect(host, port) as extra:
            extra.sendall(b"me too?\n")  # it speaks first: bytes the server has not read
            answer = recv_until_eof(extra)
            assert answer.startswith(b"error: server full"), \
                f"client {limit + 1} was not refused with a line: got {answer[:80]!r}"
            assert no_reset_follows(extra), \
                "the refusal ended with a reset: the server closed with the client's bytes " \
                "unread, and on Windows a reset destroys a line the client has not read yet"
        clients.pop().close()
        # The server sees that leave when it next runs its loop; until then a newcomer may still
        # be refused. Either answer is a clear one; being served must come within a few tries.
        for _ in range(50):
            with connect(host, port) as newcomer:
                newcomer.sendall(b"my turn\n")
                first = recv_exactly(newcomer, 8)
            if first == b"my turn\n":
                break
            assert first == b"error: s", f"a newcomer got neither echo nor refusal: {first!r}"
            time.sleep(0.1)
        else:
            raise AssertionError("no newcomer was served after a member left")
    finally:
        for sock in clients:
            sock.close()


def fill_until_stuck(sock: socket.socket, limit: int = 1 << 30) -> int:
    """Send without ever reading until the server stops taking bytes — it is blocked, or has
    stopped reading, because its echo cannot reach us: a second with nothing accepted. Returns
    how many bytes were sent; stops at `limit` if the server never stops taking them."""
    return fill_all_until_stuck([sock], limit)


def fill_all_until_stuck(socks: list[socket.socket], limit: int = 1 << 30) -> int:
    """fill_until_stuck for many clients at once: each is sent to in turn, without reading,
    until none of them has had a byte taken for a second. All of them are stuck together, not
    one after another, so the server holds every one of them when this returns. Returns how
    many bytes were sent in all."""
    for sock in socks:
        sock.setblocking(False)
    chunk = b"n" * 65536
    sent, last_progress = 0, time.monotonic()
    while time.monotonic() - last_progress < 1.0 and sent < limit:
        took = 0
        for sock in socks:
            try:
                took += sock.send(chunk)
            except BlockingIOError:
                pass
        if took:
            sent, last_progress = sent + took, time.monotonic()
        else:
            time.sleep(0.01)
    for sock in socks:
        sock.setblocking(True)
    return sent


def check_back_pressure(host: str, port: int, limit: int = 128 << 20) -> None:
    """A client that sends and never reads is, after a while, not read from either: TCP's flow
    control stops it. A server that went on reading would have to keep the echo it cannot
    send somewhere — a queue that grows with what the client sends."""
    with connect(host, port) as deaf:
        pushed = fill_until_stuck(deaf, limit)
        assert pushed < limit, \
            f"the server took {pushed >> 20} MiB from a client that reads nothing, and kept " \
            f"reading: its echo must be piling up in the server"
        echo_round_trip(host, port, b"served while it is stuck\n")


def check_a_client_that_never_reads_stalls_nobody(host: str, port: int) -> None:
    """A client that sends and sends and never reads fills the buffers between it and the
    server; the others must go on being served."""
    deaf = connect(host, port)
    try:
        fill_until_stuck(deaf)
        for index in range(10):
            echo_round_trip(host, port, b"still served %d\n" % index)
    finally:
        deaf.close()


class RelentlessClient:
    """A client that always has bytes waiting at the server: one thread sends `payload` over and
    over without pause, another reads whatever comes back as fast as it comes. Every read the
    server starts finds bytes, every send finds room, so each operation could succeed at once.
    Used as a context manager; `received` counts the bytes read, `problems` says what went wrong
    while it was meant to be going on. After `server_stopping()` the end of the connection is
    expected, not a problem."""

    def __init__(self, host: str, port: int, payload: bytes):
        self.sock = connect(host, port)
        self.payload = payload
        self.received = 0
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._ending = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True),
                         threading.Thread(target=self._read, daemon=True)]

    def __enter__(self) -> "RelentlessClient":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes both threads, if the server has not
        except OSError:
            pass
        self.sock.close()
        for thread in self._threads:
            thread.join(timeout=IO_TIMEOUT)

    def server_stopping(self) -> None:
        self._ending.set()

    def wait_until_received(self, count: int) -> None:
        """Wait until `count` bytes have come back (the client is well under way)."""
        deadline = time.monotonic() + IO_TIMEOUT
        while self.received < count and not self.problems:
            assert time.monotonic() < deadline, f"only {self.received} bytes came back"
            time.sleep(0.01)
        assert not self.problems, self.problems

    def _expected(self) -> bool:
        return self._stop.is_set() or self._ending.is_set()

    def _send(self) -> None:
        try:
            while not self._stop.is_set():
                self.sock.sendall(self.payload)
        except OSError as error:
            if not self._expected():
                self.problems.append(f"sending: {error}")

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                chunk = self.sock.recv(65536)
                if not chunk:
                    if not self._expected():
                        self.problems.append("the server closed the relentless client")
                    return
                self.received += len(chunk)
        except OSError as error:
            if not self._expected():
                self.problems.append(f"reading: {error}")


def check_every_client_is_served_while_one_gets_many(host: str, port: int, clients: int = 50,
                                                     most: int = 200,
                                                     in_flight: int = 512) -> None:
    """`clients` connections, each keeping `in_flight` 64-byte messages in flight: as each echo
    comes back, the same message goes out again. By the time any one of them has had `most`
    echoes, every other one must have had at least one.

    First every client makes one round trip, so that all are accepted and served before the
    count starts: the check is about clients the server already has, not about how soon it
    accepts (stage 07 accepts on main, and how fast main gets its turn is the scheduler's
    business). Then each sends its 32 KiB of messages at once: eight of the server's 4 KiB
    reads, so every read the server starts finds bytes already waiting and every send finds
    room, as a fast client's do. A server that goes on with the client in hand while the
    others' packets wait behind it (an inline fast path without a fairness rule, or with a turn
    of several reads) gives that one client hundreds of echoes before anyone else gets one. A
    server that takes packets first in, first out gives each client one read's worth (64
    echoes) per round. The check says which clients had none the moment the first reaches
    `most`: counts only, no clock. IO_TIMEOUT without any echo at all is the only wait."""
    messages = [b"%03d:" % index + bytes(range(32, 92)) for index in range(clients)]
    size = len(messages[0])
    socks = [connect(host, port) for _ in range(clients)]
    try:
        for index, (sock, message) in enumerate(zip(socks, messages)):
            sock.sendall(message)
            got = recv_exactly(sock, size)
            assert got == message, f"client {index}: its first echo was {got!r}"
        by_fd = {sock.fileno(): index for index, sock in enumerate(socks)}
        pending = [b""] * clients
        echoes = [0] * clients
        for sock, message in zip(socks, messages):
            sock.sendall(message * in_flight)
        while max(echoes) < most:
            readable, _, _ = select.select(socks, [], [], IO_TIMEOUT)
            assert readable, f"no echo for {IO_TIMEOUT:.0f} s; echoes so far: {echoes}"
            for sock in readable:
                index = by_fd[sock.fileno()]
                try:
                    chunk = sock.recv(65536)
                except ConnectionError as error:
                    raise AssertionError(f"client {index}: {error}") from None
                assert chunk, f"client {index}: end of stream after {echoes[index]} echoes"
                pending[index] += chunk
                whole = len(pending[index]) // size
                got, pending[index] = pending[index][:whole * size], pending[index][whole * size:]
                assert got == messages[index] * whole, \
                    f"client {index} got {got[:80]!r}, not its own messages"
                echoes[index] += whole
                if whole:
                    sock.sendall(messages[index] * whole)  # in flight again
        leader = echoes.index(max(echoes))
        starved = [index for index, count in enumerate(echoes) if count == 0]
        assert not starved, \
            f"client {leader} had {echoes[leader]} echoes while {len(starved)} of {clients} " \
            f"clients had none: {starved}"
    finally:
        for sock in socks:
            sock.close()
