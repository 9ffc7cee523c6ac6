"""A client of stage 03's chat protocol, for the tests.

    * client N joined      * client N left      [N] <line>      * error: line too long
"""

from __future__ import annotations

import re
import socket

from harness import checks

JOINED = re.compile(rb"^\* client (\d+) joined$")


class ChatClient:
    """One connection; reads whole lines (bytes, without the "\\n")."""

    def __init__(self, host: str, port: int, *, timeout: float | None = None):
        self.sock = checks.connect(host, port, timeout)
        self.buffer = b""
        self.id: int | None = None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def say(self, line: str | bytes) -> None:
        self.send((line.encode() if isinstance(line, str) else line) + b"\n")

    def read_line(self) -> bytes:
        while b"\n" not in self.buffer:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError(f"no complete line within {self.sock.gettimeout():.0f} s "
                                     f"(have {self.buffer[:80]!r})") from None
            except ConnectionError as error:
                raise AssertionError(f"connection ended while waiting for a line: {error}") from None
            if not chunk:
                raise AssertionError(f"end of stream while waiting for a line (have {self.buffer[:80]!r})")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def expect(self, line: str | bytes) -> None:
        want = line.encode() if isinstance(line, str) else line
        got = self.read_line()
        assert got == want, f"expected {want!r}, got {got!r}"

    def expect_eof(self) -> None:
        """End of stream, after any lines already buffered."""
        assert self.buffer == b"", f"unexpected bytes before the end: {self.buffer[:80]!r}"
        try:
            chunk = self.sock.recv(65536)
        except ConnectionError:
            return  # a reset ends it too
        assert chunk == b"", f"expected end of stream, got {chunk[:80]!r}"

    def quiet(self, wait: float | None = None) -> bool:
        return self.buffer == b"" and checks.nothing_arrives(self.sock, wait)

    def close(self) -> None:
        self.sock.close()

    def reset(self) -> None:
        checks.reset(self.sock)


def join_all(host: str, port: int, count: int, first_id: int = 1) -> list[ChatClient]:
    """Connect `count` clients one after another, each waiting until every earlier member has
    seen it join, so that their numbers are known. On a server that has just started, the
    first client is number 1."""
    members: list[ChatClient] = []
    for _ in range(count):
        client = ChatClient(host, port)
        if not members:
            client.id = first_id
        else:
            first_line = members[0].read_line()
            match = JOINED.match(first_line)
            assert match, f"expected '* client N joined', got {first_line!r}"
            client.id = int(match.group(1))
            for other in members[1:]:
                other.expect(first_line)
        members.append(client)
    return members
