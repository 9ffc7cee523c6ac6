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
from harness.process import ON_WINDOWS

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
    assert raw.ends_with_fin()
    raw.close()

    raw = RawConnection(server.host, server.port)
    raw.send(b"GET /notes.txt HTTP/1.0\r\n\r\n")
    assert raw.read_response().status == 200
    assert raw.ends_with_fin()
    raw.close()

    raw = RawConnection(server.host, server.port)
    raw.send(b"GET /notes.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    first = raw.read_response()
    assert first.headers["connection"] == "keep-alive"
    raw.send(b"GET /notes.txt HTTP/1.0\r\n\r\n")
    assert raw.read_response().status == 200
    assert raw.ends_with_fin()
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
        assert raw.ends_with_fin()
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
            # Either way: the server cuts a client that is still sending, so a byte may be unread.
            closed = slow.ends_either_way()
            break
    assert closed, "the slow client was never closed"
    assert served_meanwhile >= 2
    server.wait_for_line(r"disconnected: idle timeout")
    slow.close()


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(server):
    raw = RawConnection(server.host, server.port, timeout=30)
    raw.get("/notes.txt")
    assert raw.read_response().status == 200
    assert raw.ends_with_fin()  # within --idle-timeout 3 (plus the once-a-second sweep)
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


def test_1000_concurrent_keep_alive_connections_are_all_answered(launch, stage, site):
    # Not a test of the idle timeout: opening 1,000 connections under Wine on a busy machine can
    # take longer than the 3 s the `server` fixture sets, and the first ones would be cut.
    server = launch.serve(stage, "--root", windows_path(site), "--idle-timeout", "600")
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
    server = launch.serve(stage, "--root", windows_path(site), "--max-clients", "3")
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


def test_a_client_that_pipelines_without_pause_does_not_keep_the_only_worker(launch, stage,
                                                                              site):
    """One keep-alive client sends requests without pause and reads its responses as fast as
    they come, so every operation could succeed at once; with a single worker, another client
    is still answered while it goes on: the engine's worker comes back to the port."""
    server = launch.serve(stage, "--root", windows_path(site), "--workers", "1")
    requests = b"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n" * 64  # no file: nothing pends
    with checks.RelentlessClient(server.host, server.port, requests) as fast:
        fast.wait_until_received(256 * 1024)  # well under way
        other = RawConnection(server.host, server.port)
        other.get("/notes.txt")
        assert other.read_response().status == 200
        other.close()
        assert not fast.problems, fast.problems


# --- closing gracefully ----------------------------------------------------------------------

def test_connection_close_with_unread_pipelined_bytes_still_ends_with_fin(server, site):
    """`Connection: close`, and behind the request 64 KiB the server will never answer (more
    than one receive takes, so some stay unread in its socket). The whole response arrives,
    then a FIN and no reset: the server shuts down its sending side and reads until the client
    closes. A plain closesocket with those bytes unread resets the connection instead, and a
    reset can destroy the response before the client has read it."""
    raw = RawConnection(server.host, server.port)
    raw.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + b"junk" * 16384)
    response = raw.read_response()
    assert response.status == 200 and response.body == (site / "notes.txt").read_bytes()
    assert response.headers["connection"] == "close"
    assert raw.ends_with_fin()
    raw.close()
    server.wait_for_line(r"disconnected: closed after our last response")


def test_the_503_refusal_arrives_whole_and_ends_with_fin(launch, stage, site):
    """Beyond --max-clients, a client that sent a request (and more) before it was refused
    still reads the whole 503, then a FIN: the refusal drains like any other close."""
    server = launch.serve(stage, "--root", windows_path(site), "--max-clients", "1")
    held = RawConnection(server.host, server.port)
    held.get("/notes.txt")
    assert held.read_response().status == 200
    for attempt in range(3):
        extra = RawConnection(server.host, server.port)
        extra.send(b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n" + b"more" * 16384)
        response = extra.read_response()
        assert response.status == 503, f"attempt {attempt}"
        assert response.headers["connection"] == "close"
        assert extra.ends_with_fin(), f"attempt {attempt}"
        extra.close()
    held.get("/notes.txt")  # the one being served was not disturbed
    assert held.read_response().status == 200
    held.close()


# --- Expect: 100-continue --------------------------------------------------------------------

def test_expect_100_continue_is_answered_before_the_body_is_sent(server, site):
    """RFC 9110 §10.1.1: a client that asks for 100-continue waits for it before sending the
    body (for a while, or, a strict one, for ever). The 100 comes before any byte of the body
    is sent; then the final answer, and the connection goes on."""
    raw = RawConnection(server.host, server.port, timeout=10)  # the idle timeout is 3 s
    raw.send(b"POST /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
             b"Expect: 100-continue\r\n\r\n")
    interim = raw.read_response()
    assert (interim.status, interim.reason, interim.body) == (100, "Continue", b"")
    raw.send(b"hello")
    final = raw.read_response()
    assert final.status == 405
    raw.get("/notes.txt")  # the body was read: the next request is parsed from the right place
    assert raw.read_response().body == (site / "notes.txt").read_bytes()
    raw.close()


def test_expect_100_continue_with_a_body_too_large_gets_the_final_status_at_once(server):
    """A body the server will not read: the final status at once, no 100, then the close."""
    raw = RawConnection(server.host, server.port, timeout=10)
    raw.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n"
             b"Expect: 100-continue\r\n\r\n")
    response = raw.read_response()
    assert response.status == 413 and response.headers["connection"] == "close"
    assert raw.ends_with_fin()
    raw.close()


def test_expect_100_continue_in_http_1_0_is_ignored(server):
    """RFC 9110 §10.1.1: a server MUST ignore the expectation in an HTTP/1.0 request."""
    raw = RawConnection(server.host, server.port)
    raw.send(b"POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi")
    assert raw.read_response().status == 405  # and no 100 before it
    raw.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_posting_with_expect_100_continue_gets_the_100(server, tmp_path):
    """curl waits for the 100 for a second (--expect100-timeout), then sends the body anyway:
    without the 100 every such request costs that second. Asserted on what curl saw (its
    verbose output shows the interim response), not on timing."""
    body = tmp_path / "body.bin"
    body.write_bytes(b"b" * 100_000)
    done = subprocess.run(["curl", "--silent", "--show-error", "--verbose", "--max-time", "60",
                           "--data-binary", f"@{body}", "-H", "Expect: 100-continue",
                           "-o", "/dev/null" if not ON_WINDOWS else "NUL",
                           "-w", "%{http_code}",
                           f"http://{server.host}:{server.port}/index.html"],
                          capture_output=True, text=True)
    assert done.stdout == "405", done.stderr
    assert "< HTTP/1.1 100 Continue" in done.stderr, done.stderr
    assert "Done waiting for 100-continue" not in done.stderr, done.stderr


# --- request targets and Host ----------------------------------------------------------------

def test_an_absolute_form_target_is_served_from_its_path(server, site):
    """RFC 9112 §3.2.2: absolute-form (what a client sends to a proxy) must be accepted; the
    server uses its path, and the authority in it instead of the Host header."""
    raw = RawConnection(server.host, server.port)
    raw.send(b"GET http://example.test:8080/notes.txt?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n")
    response = raw.read_response()
    assert response.status == 200 and response.body == (site / "notes.txt").read_bytes()
    raw.send(b"GET HTTP://example.test HTTP/1.1\r\nHost: example.test\r\n\r\n")  # empty path: /
    response = raw.read_response()
    assert response.status == 200 and response.body == (site / "index.html").read_bytes()
    raw.close()
    server.wait_for_line(r"^client \d+: GET /notes\.txt\?x=1 200 ")


def test_options_asterisk_is_answered_with_allow(server):
    """RFC 9112 §3.2.4: `OPTIONS *` asks about the server itself; the answer says which methods
    its resources allow. The asterisk is for OPTIONS only."""
    raw = RawConnection(server.host, server.port)
    raw.send(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
    response = raw.read_response()
    assert response.status == 200
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["content-length"] == "0"
    raw.get("/notes.txt")  # the connection goes on
    assert raw.read_response().status == 200
    raw.send(b"GET * HTTP/1.1\r\nHost: t\r\n\r\n")
    assert raw.read_response().status == 400
    assert raw.ends_with_fin()
    raw.close()


@pytest.mark.parametrize("host", [
    b"a b", b"example.test/path", b"user@example.test", b"[::1", b"[::1]x", b"[example]",
    b"example.test:80x", b"example.test:80:80", b"ex%zzample", b'"quoted"', b"a\tb",
])
def test_a_host_that_is_not_a_host_and_port_is_400(server, host):
    """RFC 9112 §3.2: a server MUST answer 400 to a Host header whose value is invalid: it must
    be uri-host [":" port] (RFC 3986)."""
    raw = RawConnection(server.host, server.port)
    raw.send(b"GET /notes.txt HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    response = raw.read_response()
    assert response.status == 400, f"Host: {host!r} answered {response.status}"
    assert raw.ends_with_fin()
    raw.close()


@pytest.mark.parametrize("host", [b"example.test", b"example.test:8080", b"127.0.0.1:80",
                                  b"[::1]:8080", b"xn--bcher-kva.example", b"a-b_c~d!$&'()*+,;=",
                                  b"%41", b""])
def test_a_valid_host_is_accepted(server, host):
    raw = RawConnection(server.host, server.port)
    raw.send(b"GET /notes.txt HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert raw.read_response().status == 200, f"Host: {host!r}"
    raw.close()


# --- aborted responses -----------------------------------------------------------------------

ABORTED = r"^client (\d+): GET /big\.bin 200 aborted after (\d+) of 8388608 bytes: (.+)$"


def test_a_response_cut_short_is_logged_with_the_bytes_that_went_out(server, site):
    """The access log has a line for every response, also one that never finished: the client
    gone, the idle timeout, Ctrl+C. It says how much of the body went out."""
    # A client that reads a little, then resets; a second request was queued behind the first.
    gone = RawConnection(server.host, server.port)
    gone.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
    got = len(gone.sock.recv(65536))
    checks.reset(gone.sock)
    first = server.wait_for_line(ABORTED)
    assert 0 <= int(first.group(2)) < 8388608
    assert int(first.group(2)) >= got - 300  # at least what we read, less the head
    second = server.wait_for_line(r"^client \d+: GET /big\.bin 200 aborted after 0 of 8388608 "
                                  r"bytes: ")
    assert second.group(0) != first.group(0)

    # A client that stops reading: cut at the idle timeout (3 s).
    stalled = RawConnection(server.host, server.port, timeout=30)
    stalled.get("/big.bin")
    assert stalled.sock.recv(100).startswith(b"HTTP/1.1 200")
    idle = server.wait_for_line(ABORTED.replace("(.+)$", "idle timeout$"))
    assert int(idle.group(2)) < 8388608
    stalled.close()

    # Ctrl+C while a response is on its way.
    last = RawConnection(server.host, server.port, timeout=30)
    last.get("/big.bin")
    assert last.sock.recv(100).startswith(b"HTTP/1.1 200")
    assert server.stop() == 0, server.output_text()
    assert any(re.match(ABORTED.replace("(.+)$", "server stopping$"), line)
               for line in server.stdout_lines), server.output_text()
    last.close()


# --- out of memory ---------------------------------------------------------------------------

def _data_size(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("/proc/PID/status has no VmData")


@pytest.mark.skipif(ON_WINDOWS, reason="the memory limit is Linux's RLIMIT_DATA on the Wine "
                                       "process; on Windows a job object would set one")
def test_out_of_memory_ends_the_connection_not_the_server(launch, stage, site):
    """std::bad_alloc while serving one connection ends that connection, never the process.

    What a client can make this server allocate at once is bounded and small (it keeps no
    request bodies); its largest block is the 64 KiB chunk a connection reads a file into, held
    while the chunk is sent. So: with the server's data limited to what it has now plus 16 MiB,
    up to 600 clients each ask for an 8 MiB file and read nothing. Each holds a chunk, and
    before long the next chunk cannot be allocated: those connections end ("out of memory");
    the server goes on and answers the next client.

    The limit is RLIMIT_DATA, set on the running process: Wine reserves its address space at
    start and commits pages inside it, so RLIMIT_AS never bites, but committing a page makes it
    writable data, which RLIMIT_DATA counts. (Without the fix the process ends with
    "terminate called after throwing an instance of 'std::bad_alloc'", exit code 3.) Many small
    allocations instead of chunks would not do: Wine's own then fail first, and Wine ends the
    process ("nested exception on signal stack") before the server sees a bad_alloc."""
    import resource

    # A long idle timeout: the clients that read nothing must not be cut before memory runs out.
    server = launch.serve(stage, "--root", windows_path(site), "--idle-timeout", "120")
    pid = server.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_DATA)
    resource.prlimit(pid, resource.RLIMIT_DATA, (_data_size(pid) + (16 << 20), hard))
    clients, cut = [], 0
    try:
        for _ in range(600):
            raw = RawConnection(server.host, server.port)
            raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            clients.append(raw)
            try:
                raw.get("/big.bin")
            except OSError:  # this one was ended already: it ran the server out of memory
                cut += 1
            if any("disconnected: out of memory" in line for line in server.stdout_lines):
                break
        server.wait_for_line(r"^client \d+ disconnected: out of memory")
    finally:
        for raw in clients:
            raw.close()
        resource.prlimit(pid, resource.RLIMIT_DATA, (soft, hard))
    connection = http.client.HTTPConnection(server.host, server.port, timeout=checks.IO_TIMEOUT)
    connection.request("GET", "/notes.txt")
    assert connection.getresponse().read() == (site / "notes.txt").read_bytes()
    connection.close()
    ended = sum(1 for line in server.stdout_lines if line.endswith(" live)")
                and ": out of memory (" in line)
    print(f"{ended} of {len(clients)} connections ended out of memory "
          f"({cut} of them while the client was still sending)")
