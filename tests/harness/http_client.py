"""A raw HTTP/1.1 client for the tests of stage 09: it sends exactly the bytes a test gives
(malformed requests included) and reads responses one by one off the same connection."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from harness import checks


class Response:
    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {len(self.body)} bytes>"


class RawConnection:
    def __init__(self, host: str, port: int, timeout: float | None = None):
        self.sock = checks.connect(host, port, timeout)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def get(self, target: str, *, method: str = "GET", headers: str = "Host: test\r\n") -> None:
        self.send(f"{method} {target} HTTP/1.1\r\n{headers}\r\n".encode())

    def read_response(self, head: bool = False) -> Response:
        """One response; `head`: it answers a HEAD request, so it has no body."""
        try:
            status_line = self.reader.readline()
        except (socket.timeout, ConnectionError) as error:
            raise AssertionError(f"no response: {error}") from None
        if not status_line:
            raise AssertionError("the connection closed instead of answering")
        version, status, reason = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        assert version == "HTTP/1.1", f"status line {status_line!r}"
        headers: dict[str, str] = {}
        while True:
            line = self.reader.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = b"" if head else self.reader.read(length)
        assert len(body) == (0 if head else length), "the body ended early"
        return Response(int(status), reason, headers, body)

    def closed_by_server(self) -> bool:
        """True when the server has closed its side (end of stream, or a reset)."""
        try:
            return self.reader.read(1) == b""
        except ConnectionError:
            return True

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def windows_path(path: Path) -> str:
    """The path a Windows program (under Wine: drive Z: is the Linux root) sees `path` at."""
    if sys.platform == "win32":
        return str(path)
    return "Z:" + str(path.resolve()).replace("/", "\\")
