"""A client over the limit, turned away by common/refuse.cpp (and its Linux twin,
stages/linux/common/refuse.cpp): a line, then the server's FIN at once, then a short drain of
what the client still sends, so that closing the socket does not reset the connection.

test_limits.py shows that the line arrives and no reset follows. These tests show what that
cannot: that the FIN comes at once, from the refusal's shutdown, rather than from the close
after the drain; that a burst of refusals therefore costs a server with one worker a round trip
each, not a whole drain each; and that the server's line names the client by its real address.
"""

from __future__ import annotations

import re
import socket
import threading

import pytest

from harness import checks
from harness.http_client import LATE_RESET_WAIT

# net::drain_ms (common/refuse.h): how long a refusal reads what the client still sends, at most.
DRAIN_MS = 200


def start_full(launch, stage, *args: str):
    """The stage, and members that fill it: with --max-clients 1 where it has that option, else
    its real limit (settings["client_limit"])."""
    if stage.has("max_clients_option"):
        server = launch.serve(stage, "--max-clients", "1", *args)
        limit = 1
    else:
        server = launch.serve(stage, *args)
        limit = stage.settings["client_limit"]
    members = []
    for index in range(limit):
        sock = checks.connect(server.host, server.port)
        members.append(sock)
        message = b"member %d\n" % index
        sock.sendall(message)
        assert checks.recv_exactly(sock, len(message)) == message, f"member {index} not echoed"
    return server, members


def refused_and_ended_at_once(host: str, port: int) -> str:
    """Connect to a full server, read its line and its end of stream, and check that the end of
    stream came while the server still read from us. Returns our address as the server sees it.

    The FIN comes either from the refusal's shutdown, at once, or from the close that follows
    the drain. A client cannot tell the two apart by the FIN, but it can by whether the server
    still reads: during the drain, a byte sent after the FIN is read and dropped, our own FIN
    then ends the drain, and the close is graceful; after the close, the same byte is answered
    with a reset. This compares with the drain's length (DRAIN_MS) in one way only: the byte
    goes out the moment the FIN is read, and must reach the server within the drain, which
    only a process stalled for that long would miss."""
    with checks.connect(host, port) as sock:
        address = "%s:%d" % sock.getsockname()[:2]
        answer = checks.recv_until_eof(sock)
        assert answer.startswith(b"error: server full"), \
            f"{address} was not refused with a line: got {answer[:80]!r}"
        late = f"{address}: the server's FIN came only when it closed the socket, at the end " \
               f"of its drain (a reset answered the bytes we sent after it), not at once from " \
               f"the refusal's shutdown: a refused client waits out the drain ({DRAIN_MS} ms) " \
               f"for it, and the server's thread with it"
        try:
            sock.sendall(b"are you still reading?\n")
            sock.shutdown(socket.SHUT_WR)  # fails if the reset is here already (ENOTCONN)
        except OSError as error:
            raise AssertionError(f"{late} ({error})") from None
        assert checks.no_reset_follows(sock, LATE_RESET_WAIT), late
    return address


@pytest.mark.needs("max_clients_option")
def test_a_refused_client_gets_its_end_of_stream_at_once_and_is_named_by_its_address(launch,
                                                                                     stage):
    """The refusal's FIN, and the server's line about it.

    The line names the client by getpeername() on the refused socket. Stage 08 takes that
    socket from AcceptEx, and a socket accepted so takes on the listener's properties only once
    SO_UPDATE_ACCEPT_CONTEXT is set on it; only then does getpeername give the client's address
    (AcceptEx, Remarks: https://learn.microsoft.com/en-us/windows/win32/api/mswsock/
    nf-mswsock-acceptex; the option's entry in "SOL_SOCKET socket options" asks for it before
    getpeername, getsockname, getsockopt or setsockopt is used on the accepted socket:
    https://learn.microsoft.com/en-us/windows/win32/winsock/sol-socket-socket-options).
    Without it, Windows fails getpeername (WSAENOTCONN) and the line says "from ?": so the line
    must name our real address and port. (Wine answers getpeername on such a socket all the
    same: with the option taken out of stage 08 this still passes under Wine, so it is the
    Windows workflow, .github/workflows/windows.yml, that catches that mistake.)"""
    server, members = start_full(launch, stage)
    try:
        for _ in range(3):
            address = refused_and_ended_at_once(server.host, server.port)
            server.wait_for_line(rf"^refused a client from {re.escape(address)}: server full")
    finally:
        for sock in members:
            sock.close()


@pytest.mark.needs("client_limit")
def test_a_client_over_the_real_limit_gets_its_end_of_stream_at_once(launch, stage):
    if stage.has("max_clients_option"):
        pytest.skip("the test above reaches this stage's limit with --max-clients")
    server, members = start_full(launch, stage)
    try:
        address = refused_and_ended_at_once(server.host, server.port)
        server.wait_for_line(rf"^refused a client from {re.escape(address)}: server full")
    finally:
        for sock in members:
            sock.close()


@pytest.mark.needs("max_clients_option")
def test_a_burst_of_20_refusals_with_one_worker_holds_up_no_member(launch, stage):
    """Twenty clients over the limit at once, refused one after the other by the only thread that
    refuses (--workers 1 where the stage has workers; 04 and its twin have one thread for all).
    Each refusal lasts until the client's FIN, which a client sends when it has read the
    server's: one round trip, if the server's FIN came at once. Had it come only at the end of
    the drain, each refusal would hold that thread for the whole drain, twenty in a row (4 s),
    and the member's echo behind them. Each of the twenty checks that its FIN came while the
    server still read (see refused_and_ended_at_once); then the member is echoed."""
    workers = ("--workers", "1") if stage.has("iocp_server") else ()
    server, members = start_full(launch, stage, *workers)
    failures: list[str] = []

    def refused() -> None:
        try:
            refused_and_ended_at_once(server.host, server.port)
        except Exception as error:  # reported below, in the test's own thread
            failures.append(f"{type(error).__name__}: {error}")

    burst = [threading.Thread(target=refused) for _ in range(20)]
    try:
        for thread in burst:
            thread.start()
        for thread in burst:
            thread.join(checks.IO_TIMEOUT)
        assert not failures, f"{len(failures)} of 20 refusals: {failures[0]}"
        members[0].sendall(b"still served\n")
        assert checks.recv_exactly(members[0], 13) == b"still served\n"
    finally:
        for sock in members:
            sock.close()
