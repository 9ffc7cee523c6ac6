"""A raw HTTP/1.1 client for the tests of stage 09: it sends exactly the bytes a test gives
(malformed requests included) and reads responses one by one off the same connection."""

from __future__ import annotations

import errno
import os
import socket
import sys
import time
from pathlib import Path

from harness import checks

# How long ends_with_fin() waits after the end of stream for a reset that follows the FIN (a
# server closing with unread bytes sends it at once; this is a wait for the loopback to deliver).
LATE_RESET_WAIT = 0.2


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

    def ends_with_fin(self) -> bool:
        """True when the server closed its side with a FIN: end of stream, every byte before it
        delivered, and no reset after it. False if a byte arrives instead.

        A reset fails the test: a server that ends a connection on purpose must not reset it,
        because a reset may throw away what the client has not read yet (Windows does). A server
        that sends its FIN and then closes with the client's bytes unread sends a reset right
        after the FIN; Linux then still reports the end of stream, and keeps the reset only as
        the socket's pending error (EPIPE), which is why that error is read here too."""
        try:
            if self.reader.read(1) != b"":
                return False
        except ConnectionError as error:
            raise AssertionError(f"{error}: the server reset the connection instead of closing "
                                 "it (FIN); a reset may destroy a response not yet read") from None
        except socket.timeout:
            raise AssertionError("the server neither sent more nor closed the connection") from None
        time.sleep(LATE_RESET_WAIT)
        error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error in (errno.ECONNRESET, errno.EPIPE):
            raise AssertionError(f"the server reset the connection right after its FIN "
                                 f"({os.strerror(error)}): it closed with bytes of ours unread "
                                 "instead of reading until we close")
        return True

    def ends_either_way(self) -> bool:
        """True when the server has closed its side, with a FIN or a reset. Only for a connection
        the server cuts (the idle timeout of a client still sending): whatever the client sent
        last may be unread, and closing a socket with unread bytes resets it — rightly so."""
        try:
            return self.reader.read(1) == b""
        except ConnectionError:
            return True
        except socket.timeout:
            raise AssertionError("the server neither sent more nor closed the connection") from None

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def windows_path(path: Path) -> str:
    """The path a Windows program (under Wine: drive Z: is the Linux root) sees `path` at."""
    if sys.platform == "win32":
        return str(path)
    return "Z:" + str(path.resolve()).replace("/", "\\")


def peak_resident_bytes(server) -> int:
    """The server's peak resident memory so far: VmHWM under Linux (Wine), the peak working set
    on Windows. A peak, unlike a sample, misses no short burst between two looks."""
    if sys.platform != "win32":
        with open(f"/proc/{server.proc.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("/proc/PID/status has no VmHWM")
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                    ("PeakWorkingSetSize", ctypes.c_size_t), ("WorkingSetSize", ctypes.c_size_t),
                    ("rest", ctypes.c_size_t * 6)]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    psapi = ctypes.WinDLL("psapi", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000 | 0x0010, False, server.proc.pid)
    try:
        counters = Counters()
        counters.cb = ctypes.sizeof(Counters)
        if not psapi.GetProcessMemoryInfo(handle, ctypes.byref(counters), counters.cb):
            raise AssertionError("GetProcessMemoryInfo failed")
        return int(counters.PeakWorkingSetSize)
    finally:
        kernel32.CloseHandle(handle)
