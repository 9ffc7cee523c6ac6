"""Stages 07 and 08, the IOCP servers, under the loads and the misbehaviour they were built for.

The echo suite, the contract, 5,000 cycles with flat memory and the --max-clients refusal run
from the other files (capabilities echo, concurrent, cycles, max_clients_option); these are
the tests of capability `iocp_server`.
"""

import re
import socket
import threading
import time

import pytest

from harness import checks, restart
from harness.restart import start_on_port

pytestmark = pytest.mark.needs("iocp_server")


def live_count(server) -> int:
    """The server's own count of live clients, from its latest connect/disconnect lines. Each
    count is exact when taken, but workers print their lines concurrently, so the last line
    printed may carry an older count than the one before it (seen: "(0 live)" then "(1 live)"
    as the last two lines of a stage that had no client left). While clients only leave, the
    smallest count among the last few lines is the latest one."""
    counts = []
    for line in reversed(server.stdout_lines):
        match = re.search(r"\((\d+) live\)$", line)
        if match:
            counts.append(int(match.group(1)))
            if len(counts) == 16:
                break
    return min(counts, default=0)


def wait_until_no_client_is_live(server) -> None:
    deadline = time.monotonic() + checks.IO_TIMEOUT
    while live_count(server) != 0:
        assert time.monotonic() < deadline, \
            f"{live_count(server)} clients still live by the server's count\n{server.output_text()}"
        time.sleep(0.05)


def test_2000_clients_at_once_each_get_their_own_bytes(address):
    checks.check_concurrent_clients(*address, count=2000)


@pytest.mark.slow
def test_10000_connections_held_and_all_echoing(server):
    count = 10000
    clients = []
    try:
        for index in range(count):
            clients.append(checks.connect(server.host, server.port))
        server.wait_for_line(rf"^client {count} connected from .* \({count} live\)$")
        payloads = [b"%05d:" % index + b"x" * (index % 50) + b"\n" for index in range(count)]
        for sock, payload in zip(clients, payloads):
            sock.sendall(payload)
        for index, (sock, payload) in enumerate(zip(clients, payloads)):
            got = checks.recv_exactly(sock, len(payload))
            assert got == payload, f"client {index} got {got!r}"
        print(f"server memory with {count} clients: {server.memory_bytes() >> 20} MiB")
    finally:
        for sock in clients:
            sock.close()
    wait_until_no_client_is_live(server)


def test_1000_resets_before_during_and_after_the_echo(server):
    host, port = server.host, server.port
    big = checks.binary_payload(256 * 1024, seed=7)
    for index in range(1000):
        sock = checks.connect(host, port)
        kind = index % 3
        if kind == 0:
            pass                              # before: nothing sent yet
        elif kind == 1:
            sock.sendall(big[: 64 * 1024])    # during: the server is still echoing this
        else:
            sock.sendall(b"ping %d\n" % index)
            assert checks.recv_exactly(sock, len(b"ping %d\n" % index)) == b"ping %d\n" % index
        checks.reset(sock)                    # after: the echo is done, the read re-posted
    checks.echo_round_trip(host, port, b"after 1000 resets\n")
    wait_until_no_client_is_live(server)
    assert server.alive()


def test_connect_and_close_floods(server):
    host, port = server.host, server.port
    errors = []

    def flood(abortive: bool):
        try:
            for _ in range(400):
                sock = checks.connect(host, port)
                checks.reset(sock) if abortive else sock.close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=flood, args=(n % 2 == 0,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, str(errors[0])
    checks.echo_round_trip(host, port, b"after the flood\n")
    wait_until_no_client_is_live(server)


def test_a_thousand_silent_clients_delay_nobody(address):
    silent = [checks.connect(*address) for _ in range(1000)]
    try:
        for index in range(20):
            checks.echo_round_trip(*address, b"busy client %d\n" % index)
    finally:
        for sock in silent:
            sock.close()


def test_a_client_that_never_reads_does_not_stop_the_others(server):
    deaf = checks.connect(server.host, server.port)
    try:
        checks.fill_until_stuck(deaf)  # one worker is now blocked in send() to it
        for index in range(20):
            checks.echo_round_trip(server.host, server.port, b"others go on %d\n" % index)
    finally:
        deaf.close()


@pytest.mark.needs("send_holds_a_worker")
def test_taught_limit_a_reader_that_never_reads_holds_a_worker_until_the_send_timeout(launch, stage):
    """With one worker, a client that never reads blocks it in the synchronous send(); the
    others wait until SO_SNDTIMEO gives up on that client. Stage 08's WSASend removes this."""
    server = launch.serve(stage, "--workers", "1", "--send-timeout-ms", "3000")
    deaf = checks.connect(server.host, server.port)
    other = None
    try:
        checks.fill_until_stuck(deaf)
        other = checks.connect(server.host, server.port)
        other.sendall(b"waiting\n")
        # Accepting is the main thread's job, so the new client is taken at once...
        server.wait_for_line(r"^client 2 connected")
        # ...but not served: the only worker is held by the deaf client.
        assert checks.nothing_arrives(other), "the only worker was not held by the deaf client"
        # The send timeout ends the deaf client; then the worker is free again.
        assert checks.recv_exactly(other, 8) == b"waiting\n"
        server.wait_for_line(r"^client 1 disconnected: send failed")
    finally:
        deaf.close()
        if other:
            other.close()


@pytest.mark.needs("send_holds_no_worker")
def test_a_reader_that_never_reads_holds_no_worker(launch, stage):
    """The opposite of stage 07's taught limit: with a single worker, while one client sends
    and never reads, another client is echoed at once — the echo to the first is a pending
    WSASend, not a worker blocked in send()."""
    server = launch.serve(stage, "--workers", "1")
    deaf = checks.connect(server.host, server.port)
    try:
        checks.fill_until_stuck(deaf)  # the server has stopped reading from it: back-pressure
        for index in range(20):
            checks.echo_round_trip(server.host, server.port, b"at once %d\n" % index)
        # Served while the deaf client is still connected: nothing had to give up on it first
        # (stage 07 serves the others only once its send timeout has dropped that client).
        assert not any(line.startswith("client 1 disconnected") for line in server.stdout_lines), \
            server.output_text()
    finally:
        deaf.close()


def test_a_client_that_always_has_bytes_waiting_does_not_keep_the_only_worker(launch, stage):
    """A worker must come back for the others. One client sends without pause and reads its
    echo as fast as it comes, so every read the server starts finds bytes already waiting and
    every send finds room: each operation could succeed at once. With a single worker, another
    client's line must still come back while it goes on. (A server that handled such a success
    inline, as stage 10's fast path does, and went on without end would serve that one client
    for as long as it kept up.)"""
    server = launch.serve(stage, "--workers", "1")
    with checks.RelentlessClient(server.host, server.port, b"x" * 4096) as fast:
        fast.wait_until_received(4 * 1024 * 1024)  # well under way
        with checks.connect(server.host, server.port) as other:
            other.sendall(b"my turn\n")
            assert checks.recv_exactly(other, 8) == b"my turn\n"
        assert not fast.problems, fast.problems
        # Ctrl+C while the fast client still goes on: whatever of it is in flight or queued at
        # that moment must end the client like any completion (exit 0, nothing left).
        fast.server_stopping()
        assert server.stop() == 0, server.output_text()
        assert any(line.startswith("client 1 disconnected: server stopping")
                   for line in server.stdout_lines), server.output_text()


@pytest.mark.needs("send_timeout", "max_clients_option")
def test_a_client_that_never_reads_is_ended_after_the_send_timeout_and_its_place_given_to_another(
        launch, stage):
    """Two clients that never read fill --max-clients 2: a third is refused. After
    --send-timeout-ms without any of their echo taken, the server ends both, saying why, and
    the next client is served. (Stage 07's SO_SNDTIMEO ends a send() that blocks; stage 08's
    send does not block, so its server must watch the time itself.)"""
    # Long enough that both are surely still held when the third client comes: filling their
    # buffers takes a second or two, counted from when the server's send stops moving.
    server = launch.serve(stage, "--max-clients", "2", "--send-timeout-ms", "6000")
    deaf = [checks.connect(server.host, server.port) for _ in range(2)]
    try:
        fillers = [threading.Thread(target=checks.fill_until_stuck, args=(sock,), daemon=True)
                   for sock in deaf]
        for thread in fillers:
            thread.start()
        for thread in fillers:
            thread.join(checks.IO_TIMEOUT)
        with checks.connect(server.host, server.port) as third:
            refusal = checks.recv_until_eof(third)
        assert refusal.startswith(b"error: server full"), \
            f"a third client was not refused while two held their places: {refusal[:80]!r}"
        # No clock in the test: the hang guard only says how long the server had to do it.
        guard = 6 + 2 + checks.IO_TIMEOUT
        for number in (1, 2):
            server.wait_for_line(rf"^client {number} disconnected: send .*timed out", guard)
        checks.echo_round_trip(server.host, server.port, b"a place is free again\n")
    finally:
        for sock in deaf:
            sock.close()


@pytest.mark.needs("send_timeout")
def test_a_client_that_echoed_once_and_then_idles_is_not_ended_by_the_send_timeout(launch, stage):
    """The send timeout times a send, not a client: once the echo has gone out and the next read
    is posted, the clock stops. Client 1 is echoed once and then says nothing. A client that
    never reads comes after that echo, and its "send timed out" line shows that a sweep ran
    with a deadline later than client 1's send. Client 1 must have outlived it: no line of its
    end, and it is still echoed. (A server that left the send's time set once the read was
    posted would end client 1 at that sweep.) No clock here: the second client's line says
    when."""
    server = launch.serve(stage, "--send-timeout-ms", "1000")
    with checks.connect(server.host, server.port) as idle:
        idle.sendall(b"once\n")
        assert checks.recv_exactly(idle, 5) == b"once\n"
        with checks.connect(server.host, server.port) as deaf:
            try:
                checks.fill_until_stuck(deaf)
            except ConnectionError:  # ended while still filling: 1 s is short (stage 07)
                pass
            server.wait_for_line(r"^client 2 disconnected: send .*timed out",
                                 1 + 2 + checks.IO_TIMEOUT)
        ended = [line for line in server.stdout_lines if line.startswith("client 1 disconnected")]
        assert not ended, f"an idle client whose echo had gone out was ended: {ended}"
        idle.sendall(b"still here\n")
        assert checks.recv_exactly(idle, 11) == b"still here\n"


@pytest.mark.needs("fair_under_load")
def test_with_one_worker_every_client_is_served_before_any_gets_200_echoes(launch, stage):
    """Fairness, counted: with a single worker and 50 clients, each already served once and
    each keeping many messages in flight, no client may have 200 echoes while another has had
    none. A worker that takes packets first in, first out serves each client once per round;
    one that goes on inline with a client whose operations succeed at once makes the others
    wait behind it."""
    server = launch.serve(stage, "--workers", "1")
    checks.check_every_client_is_served_while_one_gets_many(server.host, server.port)


@pytest.mark.needs("short_sends")
def test_short_sends_each_echo_comes_back_whole_and_in_order(launch, stage):
    """A send may take fewer bytes than it was given; the rest must follow it, before the next
    read. Windows (and Wine) rarely do it on loopback, so a test build makes every WSASend ask
    for 7 bytes at most (ECHO_TEST_SEND_CAP): a server that read again after a short send
    would lose the rest of the echo, or send it out of order."""
    if launch.own_program:
        pytest.skip("the short-send build is one of this repository's; --exe has none")
    server = launch.serve(stage, variant=stage.settings["send_cap_build"])
    checks.check_binary_echo(server.host, server.port, size=64 * 1024)
    checks.check_small_writes_in_order(server.host, server.port)
    checks.check_half_close(server.host, server.port, size=20_000)


@pytest.mark.needs("send_holds_no_worker")
def test_what_a_reader_that_never_reads_costs_is_bounded(launch, stage):
    """A client whose echo cannot be sent is not read from until it can: the server keeps one
    buffer per client, not an output queue that grows with what the client sends. Fifty such
    clients, all pushing at once until TCP stops them, leave the server's memory where it was
    (a queue of even 64 KiB per client would show as 3 MiB here). The send timeout, where the
    stage has one, is set far beyond the test, so that all fifty are still the server's when
    its memory is read."""
    server = launch.serve(stage, *(("--send-timeout-ms", "600000")
                                   if "send_timeout" in stage.capabilities else ()))
    checks.check_back_pressure(server.host, server.port)
    before = server.memory_bytes()
    deaf = [checks.connect(server.host, server.port) for _ in range(50)]
    try:
        pushed = checks.fill_all_until_stuck(deaf)
        growth = server.memory_bytes() - before
        assert growth < (2 << 20), \
            f"the server grew by {growth >> 10} KiB for 50 clients that pushed {pushed >> 20} " \
            f"MiB and read nothing"
        checks.echo_round_trip(server.host, server.port, b"still served\n")
    finally:
        for sock in deaf:
            sock.close()


def test_a_burst_of_2000_connections_reset_at_once_then_clients_are_served(server):
    """Connections that are reset as soon as they are made — some before the server has taken
    them — cost the server nothing lasting: every accept it had posted is posted again, and
    ordinary clients are served after the burst."""
    socks = []
    for _ in range(2000):
        sock = checks.connect(server.host, server.port)
        socks.append(sock)
        if len(socks) == 100:
            for s in socks:
                checks.reset(s)
            socks.clear()
    for s in socks:
        checks.reset(s)
    for index in range(50):
        checks.echo_round_trip(server.host, server.port, b"after the burst %d\n" % index)
    wait_until_no_client_is_live(server)
    assert server.alive()


def test_ctrl_c_with_idle_busy_and_half_closed_clients_then_restart_on_the_same_port(launch, stage):
    server = launch.serve(stage)
    host, port = server.host, server.port
    idle = [checks.connect(host, port) for _ in range(20)]
    busy = checks.connect(host, port)
    half_closed = checks.connect(host, port)
    stop_sending = threading.Event()

    def keep_echoing():
        try:
            while not stop_sending.is_set():
                busy.sendall(b"m" * 4096)
                busy.recv(65536)
        except OSError:
            pass

    transfer = threading.Thread(target=keep_echoing, daemon=True)
    transfer.start()
    # Half-closed: it sent a lot, then its FIN, and does not read; the server is still echoing.
    half_closed.setblocking(False)
    try:
        for _ in range(64):
            half_closed.send(b"h" * 65536)
    except BlockingIOError:
        pass
    half_closed.setblocking(True)
    half_closed.shutdown(socket.SHUT_WR)
    server.wait_for_line(rf"^client {len(idle) + 2} connected")

    assert server.stop() == 0, server.output_text()
    stop_sending.set()
    transfer.join(10)
    # The stage closed first, so each of its connections would wait in TIME_WAIT (two to four
    # minutes on Windows) once the client closed in turn, and hold the port against the
    # restart. A reset from the client ends them at once: what a real restart cannot count on.
    for sock in idle + [busy, half_closed]:
        checks.reset(sock)
    assert restart.time_wait_on_port(port) == 0, "connections on the stage's port in TIME_WAIT"

    again = start_on_port(launch, stage, port)
    assert again.wait_listening() == (host, port), \
        f"the restart could not listen on port {port}\n{again.output_text()}"
    checks.echo_round_trip(host, port, b"restarted\n")


def test_taught_limit_no_framing_an_http_request_is_just_echoed(address):
    """No protocol: the server moves bytes. What stage 09 will answer is echoed here."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with checks.connect(*address) as sock:
        sock.sendall(request)
        assert checks.recv_exactly(sock, len(request)) == request


def test_ctrl_c_during_a_flood_of_short_connections_frees_every_client(launch, stage):
    """Ctrl+C lands while connections come and go: some accepted and not yet started, some
    started, some gone. Whatever the moment, each one the server took is freed before it exits,
    and the exit code is 0. Many tries, at varied moments."""
    for attempt in range(20):
        server = launch.serve(stage)
        stop_flooding = threading.Event()

        def flood():
            while not stop_flooding.is_set():
                try:
                    with socket.create_connection((server.host, server.port), timeout=2):
                        pass
                except OSError:
                    pass  # refused or reset once the server has stopped listening

        flooders = [threading.Thread(target=flood) for _ in range(4)]
        for thread in flooders:
            thread.start()
        try:
            server.wait_for_line(r"^client \d+ connected")
            time.sleep(0.005 * attempt)
            code = server.stop()
        finally:
            stop_flooding.set()
            for thread in flooders:
                thread.join()
        assert code == 0, f"attempt {attempt}\n{server.output_text()}"
