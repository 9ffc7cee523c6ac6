"""What a server posts ahead and takes back — an accept waiting for the next client, a receive
buffer lent to an echo — must come back after each use. When one does not, the server does not
fail: the next client, or the next echo, simply waits, and a test that only waits for bytes
waits out its whole hang guard (checks.IO_TIMEOUT, 30 s) to report "got 0 bytes". These tests
notice the loss as it happens, by something the server does meanwhile, and say what was lost.
"""

from __future__ import annotations

import re
import select
import socket
import time
from typing import Callable

import pytest

from harness import checks
from harness.http_client import RawConnection, windows_path

# How many round trips a client already served (the witness) may make while a newcomer waits
# for its first answer. Accepting the newcomer and answering it are a few steps of the server's,
# each witness round trip a few more, taken in turn with them. A server slow to accept answers
# the witness a few times meanwhile (20 at most, seen here with stage 02, which starts a thread
# per client); one that lost the accept never answers the newcomer at all.
WITNESS_ROUND_TRIPS = 2000


def answered_before_the_witness_runs_out(newcomer: socket.socket,
                                         witness_round_trip: Callable[[], None]) -> bool:
    """Make witness round trips until `newcomer` has bytes to read: True, or False when it had
    none after WITNESS_ROUND_TRIPS of them."""
    for _ in range(WITNESS_ROUND_TRIPS):
        readable, _, _ = select.select([newcomer], [], [], 0)
        if readable:
            return True
        witness_round_trip()
    return False


def accepted(server) -> int:
    """The connections the server says it accepted, from its log."""
    return sum(1 for line in server.stdout_lines if re.match(r"^client \d+ connected", line))


@pytest.mark.needs("cycles", "concurrent")
def test_every_connection_is_accepted_one_after_the_other(server):
    """Fifty clients one after the other, each sending a line, while a client connected before
    them is echoed byte by byte: each newcomer is echoed before that witness has had
    WITNESS_ROUND_TRIPS echoes. Stage 08 keeps a number of AcceptEx calls posted ahead (16,
    unless --accepts says otherwise) and must post each again once it completes; one that is
    not posted again is an accept lost, and after as many connections as were posted, a
    newcomer waits in the listener's backlog for ever, connected as far as TCP knows."""
    witness = checks.connect(server.host, server.port)

    def witness_round_trip() -> None:
        witness.sendall(b"w")
        assert checks.recv_exactly(witness, 1) == b"w", "the witness got another byte back"

    try:
        witness_round_trip()
        for number in range(2, 52):  # the witness is connection 1
            with checks.connect(server.host, server.port) as newcomer:
                line = b"newcomer %d\n" % number
                newcomer.sendall(line)
                assert answered_before_the_witness_runs_out(newcomer, witness_round_trip), \
                    f"connection {number} was not echoed while connection 1 was echoed " \
                    f"{WITNESS_ROUND_TRIPS} times; the server says it accepted {accepted(server)}: " \
                    f"an accept was lost (not posted again after it completed), and every " \
                    f"client after the last one posted waits for ever"
                assert checks.recv_exactly(newcomer, len(line)) == line
    finally:
        witness.close()


@pytest.mark.needs("http")
def test_every_http_connection_is_accepted_one_after_the_other(launch, stage, tmp_path):
    """Stage 09's engine is stage 08's, accepts posted ahead included: the same test in HTTP.
    Fifty newcomers one after the other, each asking for /hello, while a keep-alive connection
    made before them asks for it again and again."""
    root = tmp_path / "www"
    root.mkdir()
    server = launch.serve(stage, "--root", windows_path(root), "--idle-timeout", "600")
    request = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
    witness = RawConnection(server.host, server.port)

    def witness_round_trip() -> None:
        witness.send(request)
        assert witness.read_response().status == 200, "the witness was not answered"

    try:
        witness_round_trip()
        for number in range(2, 52):  # the witness is connection 1
            with checks.connect(server.host, server.port) as newcomer:
                newcomer.sendall(request)
                assert answered_before_the_witness_runs_out(newcomer, witness_round_trip), \
                    f"connection {number} was not answered while connection 1 was answered " \
                    f"{WITNESS_ROUND_TRIPS} times; the server says it accepted " \
                    f"{accepted(server)}: an accept was lost (not posted again after it completed)"
                assert checks.recv_exactly(newcomer, 15) == b"HTTP/1.1 200 OK"
    finally:
        witness.close()


LENT_OUT = re.compile(r"^worker \d+: all \d+ receive buffers are lent out")


@pytest.mark.needs("provided_buffers")
def test_every_receive_buffer_comes_back_after_its_echo(launch, stage):
    """The io_uring twin lends a ring's receive buffer to each echo and takes it back when the
    echo is sent. With four buffers and one client at a time, each reading its echo before it
    sends again, one buffer is lent at a time at most: the server must never say that all four
    are lent out. A buffer not given back shows there at the fifth echo, and the client's
    receive waits for a buffer for ever; this test stops at that line, not at the hang guard."""
    server = launch.serve(stage, "--workers", "1", "--buffers", "4")
    echoes = 0
    for client in range(5):
        with checks.connect(server.host, server.port) as sock:
            for index in range(10):
                line = b"client %d, line %d\n" % (client, index)
                sock.sendall(line)
                got = b""
                deadline = time.monotonic() + checks.IO_TIMEOUT
                while len(got) < len(line):
                    assert time.monotonic() < deadline, \
                        f"echo {echoes + 1}: {len(got)} of {len(line)} bytes, then nothing " \
                        f"for {checks.IO_TIMEOUT:.0f} s\n{server.output_text()}"
                    readable, _, _ = select.select([sock], [], [], 0.05)
                    if readable:
                        chunk = sock.recv(len(line) - len(got))
                        assert chunk, f"end of stream after {len(got)} bytes of echo {echoes + 1}"
                        got += chunk
                        continue
                    assert not any(LENT_OUT.match(text) for text in server.stdout_lines), \
                        f"after {echoes} echoes, one at a time, the server ran out of its 4 " \
                        f"receive buffers: a buffer was not given back after its echo, and " \
                        f"echo {echoes + 1} waits for one for ever\n{server.output_text()}"
                    assert server.alive(), server.output_text()
                assert got == line, f"echo {echoes + 1}: sent {line!r}, got {got!r}"
                echoes += 1
