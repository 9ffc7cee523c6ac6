"""Stage 09, black box: real HTTP clients (curl, Python's http.client) and raw sockets for what
real clients never send."""

import http.client
import json
import random
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from harness import checks
from harness.http_client import RawConnection, windows_path

pytestmark = pytest.mark.needs("http")

SECRET = b"TOP SECRET: outside the served folder"


@pytest.fixture
def site(tmp_path):
    """A served folder with text and binary files, and secrets next to it."""
    root = tmp_path / "www"
    (root / "docs").mkdir(parents=True)
    (root / "index.html").write_bytes(b"<!DOCTYPE html><title>home</title><h1>home</h1>\n")
    (root / "docs" / "index.html").write_bytes(b"<h1>docs</h1>\n")
    (root / "notes.txt").write_bytes("plain text, UTF-8: \u00e9t\u00e9\n".encode())
    rng = random.Random(8)
    (root / "blob.bin").write_bytes(bytes(rng.getrandbits(8) for _ in range(300_000)))
    (root / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    (root / "big.bin").write_bytes(bytes(rng.getrandbits(8) for _ in range(256 * 1024)) * 32)  # 8 MiB
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "www-secret").mkdir()
    (tmp_path / "www-secret" / "x.txt").write_bytes(SECRET)
    return root


@pytest.fixture
def server(launch, stage, site):
    return launch.serve(stage, "--root", windows_path(site), "--idle-timeout", "3")


def connection_count(server) -> int:
    return sum(1 for line in server.stdout_lines if re.match(r"^client \d+ connected", line))


# --- files, byte for byte --------------------------------------------------------------------

@pytest.mark.parametrize("name, content_type", [
    ("index.html", "text/html; charset=utf-8"),
    ("notes.txt", "text/plain; charset=utf-8"),
    ("blob.bin", "application/octet-stream"),
    ("picture.png", "image/png"),
])
def test_http_client_gets_each_file_byte_for_byte(server, site, name, content_type):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=checks.IO_TIMEOUT)
    connection.request("GET", "/" + name)
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200
    assert body == (site / name).read_bytes()
    assert response.getheader("Content-Type") == content_type
    assert int(response.getheader("Content-Length")) == len(body)
    connection.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_gets_binary_files_byte_for_byte(server, site, tmp_path):
    for name in ("blob.bin", "big.bin", "picture.png", "index.html"):
        out = tmp_path / f"downloaded-{name}"
        done = subprocess.run(["curl", "--silent", "--show-error", "--fail", "--max-time", "60",
                               "-o", str(out), f"http://{server.host}:{server.port}/{name}"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == (site / name).read_bytes(), f"{name} differs"


def test_the_shipped_site_is_served_by_default(launch, stage):
    server = launch.serve(stage)
    connection = http.client.HTTPConnection(server.host, server.port, timeout=checks.IO_TIMEOUT)
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 200 and b"It works." in response.read()
    connection.request("GET", "/logo.png")
    response = connection.getresponse()
    assert response.status == 200 and response.read().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_folder_is_redirected_to_its_slash_and_served_from_its_index(server):
    raw = RawConnection(server.host, server.port)
    raw.get("/docs")
    moved = raw.read_response()
    assert moved.status == 301 and moved.headers["location"] == "/docs/"
    raw.get("/docs/")
    assert raw.read_response().body == b"<h1>docs</h1>\n"
    raw.close()


# --- the handler table -----------------------------------------------------------------------

def test_stats_counts_requests_and_connections(server):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=checks.IO_TIMEOUT)
    for _ in range(5):
        connection.request("GET", "/notes.txt")
        connection.getresponse().read()
    connection.request("GET", "/stats")
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "application/json"
    stats = json.loads(response.read())
    assert stats["requests"] == 6  # the five, and this one
    assert stats["connections_open"] == 1
    assert stats["connections_total"] == 1
    assert stats["bytes_sent"] > 0
    connection.close()


# --- keep-alive and pipelining ---------------------------------------------------------------

def test_keep_alive_serves_100_requests_on_one_connection(server, site):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=checks.IO_TIMEOUT)
    connection.connect()
    first_socket = connection.sock
    for index in range(100):
        connection.request("GET", "/notes.txt" if index % 2 else "/index.html")
        response = connection.getresponse()
        assert response.status == 200
        response.read()
        assert connection.sock is first_socket, f"request {index} needed a new connection"
    connection.close()
    assert connection_count(server) == 1


def test_pipelined_requests_are_answered_in_order(server, site):
    raw = RawConnection(server.host, server.port)
    names = ["index.html", "notes.txt", "blob.bin", "missing", "picture.png", "stats"]
    raw.send(b"".join(f"GET /{name} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for name in names))
    for name in names:
        response = raw.read_response()
        if name == "missing":
            assert response.status == 404
        elif name == "stats":
            assert response.status == 200 and b"requests" in response.body
        else:
            assert response.status == 200 and response.body == (site / name).read_bytes(), name
    raw.close()


def test_head_sends_the_headers_and_no_body(server, site):
    raw = RawConnection(server.host, server.port)
    raw.get("/blob.bin", method="HEAD")
    head = raw.read_response(head=True)
    assert head.status == 200
    assert int(head.headers["content-length"]) == (site / "blob.bin").stat().st_size
    raw.get("/notes.txt")  # had a body followed the HEAD answer, this would read it instead
    assert raw.read_response().body == (site / "notes.txt").read_bytes()
    raw.close()


def test_connection_close_and_http_1_0_end_the_connection(server):
    raw = RawConnection(server.host, server.port)
    raw.get("/notes.txt", headers="Host: t\r\nConnection: close\r\n")
    response = raw.read_response()
    assert response.status == 200 and response.headers["connection"] == "close"
    assert raw.closed_by_server()
    raw.close()

    raw = RawConnection(server.host, server.port)
    raw.send(b"GET /notes.txt HTTP/1.0\r\n\r\n")
    assert raw.read_response().status == 200
    assert raw.closed_by_server()
    raw.close()

    raw = RawConnection(server.host, server.port)
    raw.send(b"GET /notes.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    first = raw.read_response()
    assert first.headers["connection"] == "keep-alive"
    raw.send(b"GET /notes.txt HTTP/1.0\r\n\r\n")
    assert raw.read_response().status == 200
    assert raw.closed_by_server()
    raw.close()


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("request_bytes, status, closes", [
    (b"GET /nope.html HTTP/1.1\r\nHost: t\r\n\r\n", 404, False),
    (b"POST /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi", 405, False),
    (b"DELETE /stats HTTP/1.1\r\nHost: t\r\n\r\n", 405, False),
    (b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501, False),
    (b"GET / HTTP/1.1\r\n\r\n", 400, True),                               # no Host
    (b"GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n", 400, True),
    (b"this is not http\r\n\r\n", 400, True),
    (b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505, True),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, True),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * 20000 + b"\r\n\r\n", 431, True),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, True),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     400, True),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n", 413, True),
], ids=["404", "405-post", "405-delete", "501-method", "400-no-host", "400-control",
        "400-garbage", "505", "414", "431", "501-chunked", "400-te-and-cl", "413"])
def test_error_statuses(server, request_bytes, status, closes):
    raw = RawConnection(server.host, server.port)
    raw.send(request_bytes)
    response = raw.read_response()
    assert response.status == status
    if status == 405:
        assert response.headers["allow"] == "GET, HEAD"
    if closes:
        assert response.headers.get("connection") == "close"
        assert raw.closed_by_server()
    else:  # the connection goes on
        raw.get("/notes.txt")
        assert raw.read_response().status == 200
    raw.close()


@pytest.mark.parametrize("target", [
    "/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
    "/docs/../../secret.txt", "/..\\secret.txt", "/..%5csecret.txt", "/%5c..%5csecret.txt",
    "/../www-secret/x.txt", "/C:/Windows/win.ini", "/C:%5cWindows%5cwin.ini", "/c%3a/secret.txt",
    "//../secret.txt", "/secret.txt%00.html", "/index.html%00", "/.%2e/.%2e/secret.txt",
    "/%c0%ae%c0%ae/secret.txt", "/index.html::$DATA", "/CON", "/nul.txt", "/index.html.",
])
def test_no_path_escapes_the_root(server, site, target):
    raw = RawConnection(server.host, server.port)
    raw.get(target)
    response = raw.read_response()
    assert response.status in (400, 404), f"{target} answered {response.status}"
    assert SECRET not in response.body
    raw.close()


def test_an_absolute_path_is_taken_under_the_root(server, site):
    raw = RawConnection(server.host, server.port)
    raw.get("/" + windows_path(site.parent / "secret.txt").replace("\\", "/"))
    response = raw.read_response()
    assert response.status != 200 and SECRET not in response.body
    raw.close()


# --- slow and many clients -------------------------------------------------------------------

def test_a_client_sending_a_header_byte_a_second_is_closed_at_the_idle_timeout(server, site):
    slow = RawConnection(server.host, server.port, timeout=60)
    request = b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n"
    served_meanwhile = 0
    closed = False
    for byte in request:
        try:
            slow.send(bytes([byte]))
        except OSError:
            closed = True
            break
        # Others are served at full speed meanwhile.
        checks_connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        checks_connection.request("GET", "/notes.txt")
        assert checks_connection.getresponse().status == 200
        checks_connection.close()
        served_meanwhile += 1
        if not checks.nothing_arrives(slow.sock, 1.0):  # a byte a second, unless it ended
            closed = slow.closed_by_server()
            break
    assert closed, "the slow client was never closed"
    assert served_meanwhile >= 2
    server.wait_for_line(r"disconnected: idle timeout")
    slow.close()


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(server):
    raw = RawConnection(server.host, server.port, timeout=30)
    raw.get("/notes.txt")
    assert raw.read_response().status == 200
    assert raw.closed_by_server()  # within --idle-timeout 3 (plus the once-a-second sweep)
    server.wait_for_line(r"disconnected: idle timeout")
    raw.close()


def test_a_client_that_does_not_read_a_big_file_holds_nothing_but_itself(server, site):
    """Responses go out with overlapped WSASend: unlike stage 07's synchronous send, a reader
    that stalls holds no worker (the next test makes the point with a single worker)."""
    raw = RawConnection(server.host, server.port)
    raw.get("/big.bin")  # 8 MiB, and this client reads none of it
    for index in range(20):
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        connection.request("GET", "/notes.txt")
        assert connection.getresponse().status == 200
        connection.close()
    raw.close()


def test_one_worker_still_serves_others_while_a_reader_stalls(launch, stage, site):
    server = launch.serve(stage, "--root", windows_path(site), "--workers", "1")
    raw = RawConnection(server.host, server.port)
    raw.get("/big.bin")
    time.sleep(0.5)  # the WSASend of 8 MiB is pending now
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.request("GET", "/notes.txt")
    assert connection.getresponse().status == 200
    connection.close()
    raw.close()


def test_1000_concurrent_keep_alive_connections_are_all_answered(server, site):
    expected = (site / "notes.txt").read_bytes()
    connections = [RawConnection(server.host, server.port) for _ in range(1000)]
    try:
        for round_number in range(2):  # twice on each: the second proves keep-alive
            for raw in connections:
                raw.get("/notes.txt")
            for index, raw in enumerate(connections):
                response = raw.read_response()
                assert response.status == 200 and response.body == expected, \
                    f"connection {index}, round {round_number}"
    finally:
        for raw in connections:
            raw.close()


def test_beyond_max_connections_a_client_gets_503(launch, stage, site):
    server = launch.serve(stage, "--root", windows_path(site), "--max-connections", "3")
    held = [RawConnection(server.host, server.port) for _ in range(3)]
    for raw in held:
        raw.get("/notes.txt")
        assert raw.read_response().status == 200
    extra = RawConnection(server.host, server.port)
    assert extra.read_response().status == 503
    extra.close()
    for raw in held:
        raw.close()


def test_the_access_log_has_a_line_per_request(server):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.request("GET", "/notes.txt")
    connection.getresponse().read()
    connection.request("HEAD", "/index.html")
    connection.getresponse().read()
    connection.close()
    server.wait_for_line(r"^client 1: GET /notes\.txt 200 \d+ bytes \d+\.\d\d ms$")
    server.wait_for_line(r"^client 1: HEAD /index\.html 200 0 bytes \d+\.\d\d ms$")


def test_ctrl_c_with_requests_in_flight_exits_0(server, site):
    stop = threading.Event()
    errors = []

    def keep_downloading():
        while not stop.is_set():
            try:
                connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
                connection.request("GET", "/big.bin")
                connection.getresponse().read()
                connection.close()
            except (OSError, http.client.HTTPException):
                return  # the server went away: expected
            except BaseException as error:  # pragma: no cover
                errors.append(error)

    threads = [threading.Thread(target=keep_downloading, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    server.wait_for_line(r"^client 8 connected")
    time.sleep(0.5)
    assert server.stop() == 0, server.output_text()
    assert server.stdout_lines[-1].startswith("stopped")
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not errors


def test_a_slow_but_steady_reader_is_not_taken_for_an_idle_one(server, site):
    """The 8 MiB download below takes about twice the idle timeout (3 s), read steadily: each
    WSASend completion is progress, so the connection is not cut off."""
    raw = RawConnection(server.host, server.port, timeout=30)
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    raw.get("/big.bin")
    expected = (site / "big.bin").read_bytes()
    started = time.monotonic()
    status_line = raw.reader.readline()
    assert status_line.startswith(b"HTTP/1.1 200")
    while raw.reader.readline() not in (b"\r\n", b""):
        pass
    body = bytearray()
    while len(body) < len(expected):
        chunk = raw.reader.read1(65536)
        assert chunk, f"cut off after {len(body)} of {len(expected)} bytes"
        body += chunk
        time.sleep(0.045)
    assert bytes(body) == expected
    assert time.monotonic() - started > 3, "the download was not slower than the idle timeout"
    raw.close()


def test_a_root_that_is_not_a_folder_is_a_bad_argument(launch, stage, tmp_path):
    process = launch.start(stage, "--root", windows_path(tmp_path / "no-such-folder"))
    assert process.wait_exit() == 2
    assert any("--root" in line for line in process.stderr_lines)
    assert any("usage:" in line for line in process.stderr_lines)
