"""Stage 09, black box: what the file system can do to a static file server on Windows.

A request names a file by a spelling; the file system decides what is opened. A link or a
junction inside the served folder can lead out of it, an 8.3 short name (`GIT~1`) can reach a
hidden folder under another spelling, and a file can be far larger than any buffer the server
should hold. Each test below puts one of these in the served folder and checks what comes back.
"""

import http.client
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import checks
from harness.http_client import RawConnection, peak_resident_bytes, windows_path
from harness.process import ON_WINDOWS

pytestmark = pytest.mark.needs("http")

SECRET = b"TOP SECRET: outside the served folder"


def get(server, target: str, method: str = "GET"):
    raw = RawConnection(server.host, server.port)
    raw.get(target, method=method)
    response = raw.read_response(head=method == "HEAD")
    raw.close()
    return response


# --- links and junctions ---------------------------------------------------------------------

@pytest.fixture
def linked_site(tmp_path):
    """A served folder with symbolic links in it: to a folder outside, to a file outside, to
    /etc, relative ones, and one that stays inside."""
    root = tmp_path / "www"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.html").write_bytes(b"<h1>docs</h1>\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    links = [
        (root / "out", outside),                            # a folder outside
        (root / "leak.txt", tmp_path / "secret.txt"),       # a file outside
        (root / "up", Path("..")),                          # relative: the parent
        (root / "sideways", Path("../outside")),            # relative: a folder beside
        (root / "alias", root / "docs"),                    # inside: allowed
        (root / "page.html", Path("docs/index.html")),      # inside, relative: allowed
    ]
    if not ON_WINDOWS:
        links.append((root / "etc", Path("/etc")))          # the expert's example
    try:
        for link, target in links:
            link.symlink_to(target, target_is_directory=not target.suffix)
    except OSError as error:  # Windows without the privilege (or developer mode)
        pytest.skip(f"cannot create symbolic links here: {error}")
    return root


@pytest.mark.parametrize("target", [
    "/out/secret.txt", "/leak.txt", "/up/secret.txt", "/up/outside/secret.txt",
    "/sideways/secret.txt", "/out", "/out/", "/up/", "/etc/passwd", "/etc/hostname",
])
def test_a_link_inside_the_root_does_not_lead_out(launch, stage, linked_site, target):
    """The server decides on the file it opened (its final path), not on the path it was
    asked for: a link to anything outside the served folder is 404, whatever it points to."""
    if target.startswith("/etc") and ON_WINDOWS:
        pytest.skip("no /etc on Windows")
    server = launch.serve(stage, "--root", windows_path(linked_site))
    response = get(server, target)
    assert response.status == 404, f"{target} answered {response.status}"
    assert SECRET not in response.body and b"root:" not in response.body
    assert "location" not in response.headers  # not even whether a folder is there


def test_a_link_that_stays_inside_the_root_is_followed(launch, stage, linked_site):
    server = launch.serve(stage, "--root", windows_path(linked_site))
    assert get(server, "/alias/index.html").body == b"<h1>docs</h1>\n"
    assert get(server, "/page.html").body == b"<h1>docs</h1>\n"
    moved = get(server, "/alias")
    assert moved.status == 301 and moved.headers["location"] == "/alias/"


def test_a_hard_link_inside_the_root_to_a_file_outside_is_refused(launch, stage, tmp_path):
    """A hard link has no target that a final path could reveal: each name of a file is as
    final as the other. A file with more than one name is refused; one with a single name is
    served."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "plain.txt").write_bytes(b"one name\n")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    try:
        (root / "innocent.txt").hardlink_to(tmp_path / "secret.txt")
    except OSError as error:
        pytest.skip(f"cannot create hard links here: {error}")
    server = launch.serve(stage, "--root", windows_path(root))
    response = get(server, "/innocent.txt")
    assert response.status == 404, f"a second name of a file outside answered {response.status}"
    assert SECRET not in response.body
    assert get(server, "/plain.txt").body == b"one name\n"


@pytest.mark.skipif(not ON_WINDOWS, reason="Windows only: a junction is an NTFS mount point "
                    "(_winapi.CreateJunction); under Wine the files are Linux's, whose links the "
                    "tests above cover")
@pytest.mark.parametrize("target", ["/out/secret.txt", "/out", "/out/"])
def test_a_junction_inside_the_root_does_not_lead_out(launch, stage, tmp_path, target):
    """A junction, unlike a symbolic link, needs no privilege and no Developer Mode: anyone who
    can write in the served folder can make one
    (https://learn.microsoft.com/en-us/windows/win32/fileio/hard-links-and-junctions). The final
    path of what it opens is outside the root: 404, as for a link."""
    import _winapi  # Windows-only module of CPython's standard library

    root = tmp_path / "www"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    _winapi.CreateJunction(str(outside), str(root / "out"))
    server = launch.serve(stage, "--root", windows_path(root))
    response = get(server, target)
    assert response.status == 404, f"{target} through a junction answered {response.status}"
    assert SECRET not in response.body
    assert "location" not in response.headers


# --- 8.3 short names -------------------------------------------------------------------------

def short_name(launch, folder: Path, name: str) -> str | None:
    """The 8.3 short name the system gave `name` in `folder`, from `dir /x` (which shows it next
    to the long name), or None if it has none. Under Wine, Wine's own cmd asks Wine."""
    argv = ["cmd", "/c", "dir", "/x", "/a", windows_path(folder)]
    if not ON_WINDOWS:
        argv = [str(launch.wine.wine_run), *argv]
    done = subprocess.run(argv, capture_output=True, timeout=120,
                          env=launch.wine.env if launch.wine else None)
    for line in done.stdout.decode("latin-1").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1] == name and "~" in parts[-2]:
            return parts[-2]
    return None


def test_a_short_name_does_not_reach_a_hidden_folder(launch, stage, tmp_path):
    """`GET /GIT~1/config` spells no hidden name, but opens .git\\config. The hidden-name rule
    is applied to the long name of what was opened, so it is refused; a visible file reached by
    its short name is served, with the type of its long name."""
    root = tmp_path / "www"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_bytes(SECRET)
    (root / "a-long-page-name.html").write_bytes(b"<p>long</p>\n")
    hidden = short_name(launch, root, ".git")
    visible = short_name(launch, root, "a-long-page-name.html")
    if hidden is None or visible is None:
        pytest.skip("this volume gives no 8.3 short names (fsutil 8dot3name): nothing to test")
    server = launch.serve(stage, "--root", windows_path(root))
    refused = get(server, f"/{hidden}/config")
    assert refused.status == 404, f"/{hidden}/config answered {refused.status}"
    assert SECRET not in refused.body
    served = get(server, f"/{visible}")
    assert served.status == 200 and served.body == b"<p>long</p>\n", f"/{visible}"
    assert served.headers["content-type"] == "text/html; charset=utf-8"


# --- redirects -------------------------------------------------------------------------------

@pytest.fixture
def folders_site(tmp_path):
    root = tmp_path / "www"
    for folder in ("docs", "my docs", "caf\u00e9"):
        (root / folder).mkdir(parents=True)
        (root / folder / "index.html").write_bytes(f"<h1>{folder}</h1>\n".encode())
    return root


@pytest.mark.parametrize("target, location", [
    ("/docs", "/docs/"),
    ("//docs", "/docs/"),         # not "//docs/": a protocol-relative URL, another host
    ("///docs", "/docs/"),
    ("/%2Fdocs", "/docs/"),
    ("/%64ocs?x=1", "/docs/"),
    ("/my%20docs", "/my%20docs/"),
    ("/caf%C3%A9", "/caf%C3%A9/"),
    ("/caf%c3%a9", "/caf%C3%A9/"),
])
def test_a_folder_redirect_names_the_folder_on_this_server(launch, stage, folders_site, target,
                                                             location):
    """Location is made from the normalized path, percent-encoded: never from the raw target,
    so it cannot be turned into a URL of another host."""
    server = launch.serve(stage, "--root", windows_path(folders_site))
    moved = get(server, target)
    assert moved.status == 301
    assert moved.headers["location"] == location
    followed = get(server, location)
    assert followed.status == 200 and followed.body.startswith(b"<h1>")


def test_a_folder_with_doubled_slashes_is_served_without_a_redirect(launch, stage, folders_site):
    server = launch.serve(stage, "--root", windows_path(folders_site))
    response = get(server, "/docs//")
    assert response.status == 200 and response.body == b"<h1>docs</h1>\n"


# --- large files: streamed, never held whole -------------------------------------------------

BIG = 64 << 20
CHUNK = 64 << 10           # what the server reads and sends at a time (main.cpp: file_chunk_size)
CONTEXT = 16 << 10         # a connection's fixed part: its 8 KiB receive buffer, the parser...
PROCESS_SLACK = 4 << 20    # the allocator's and Wine's own bookkeeping, as in test_cycles.py
READERS = 50


@pytest.fixture(scope="module")
def big_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("big") / "www"
    root.mkdir()
    (root / "big.bin").write_bytes(bytes(range(256)) * (BIG // 256))
    (root / "notes.txt").write_bytes(b"small\n")
    return root


def test_50_slow_readers_of_a_64_mib_file_hold_a_chunk_each(launch, stage, big_site):
    """A response body is streamed from the file in 64 KiB chunks: read one, send it, read the
    next. So a connection holds one chunk at most, however large the file and however slowly
    it is read: 50 clients reading a 64 MiB file slowly raise the server's peak resident
    memory by at most 50 × (64 KiB + 16 KiB) plus a fixed slack — the design bound, not a
    measured figure. (A server that reads the file whole exceeds it with the first client.)
    Meanwhile another client is answered at once."""
    server = launch.serve(stage, "--root", windows_path(big_site))
    warm = get(server, "/notes.txt")
    assert warm.status == 200
    baseline = server.memory_bytes()
    bound = baseline + READERS * (CHUNK + CONTEXT) + PROCESS_SLACK
    readers = []
    try:
        for index in range(READERS):
            raw = RawConnection(server.host, server.port, timeout=30)
            raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            raw.get("/big.bin")
            assert raw.sock.recv(64).startswith(b"HTTP/1.1 200 OK"), f"reader {index}"
            readers.append(raw)
            peak = peak_resident_bytes(server)
            assert peak <= bound, (f"with {index + 1} readers the peak resident memory is "
                                   f"{(peak - baseline) >> 10} KiB over the baseline; the bound "
                                   f"is {(bound - baseline) >> 10} KiB")
        # Read slowly, a little from each in turn, for a few seconds.
        received = [0] * READERS
        for round_number in range(40):
            for index, raw in enumerate(readers):
                received[index] += len(raw.sock.recv(16384))
            if round_number == 20:  # someone else is served meanwhile
                assert get(server, "/notes.txt").body == b"small\n"
            time.sleep(0.1)
        peak = peak_resident_bytes(server)
    finally:
        for raw in readers:
            raw.close()
    print(f"peak resident memory with {READERS} slow readers of a 64 MiB file: "
          f"{(peak - baseline) / 2**20:.1f} MiB over a baseline of {baseline / 2**20:.1f} MiB "
          f"(bound {(bound - baseline) / 2**20:.1f} MiB); each reader got "
          f"{min(received) >> 10}-{max(received) >> 10} KiB")
    assert peak <= bound, (f"peak resident memory {(peak - baseline) >> 10} KiB over the "
                           f"baseline; the bound is {(bound - baseline) >> 10} KiB")
    assert min(received) > 0


def test_head_of_a_64_mib_file_reads_nothing(launch, stage, big_site):
    """HEAD needs only the size: the answer has the file's Content-Length, and the server's
    memory does not move."""
    server = launch.serve(stage, "--root", windows_path(big_site))
    assert get(server, "/notes.txt").status == 200
    baseline = server.memory_bytes()
    for _ in range(5):
        head = get(server, "/big.bin", method="HEAD")
        assert head.status == 200 and int(head.headers["content-length"]) == BIG
    peak = peak_resident_bytes(server)
    assert peak <= baseline + PROCESS_SLACK, \
        f"5 HEAD requests raised the peak resident memory by {(peak - baseline) >> 10} KiB"


def test_a_file_over_64_mib_arrives_whole(launch, stage, big_site, tmp_path):
    """Streaming serves any size: no cap on files (there was one at 64 MiB, because the file
    was read whole). Every byte, in order, and the connection goes on."""
    root = tmp_path / "www"
    root.mkdir()
    data = (big_site / "big.bin").read_bytes() + b"!"
    (root / "bigger.bin").write_bytes(data)
    server = launch.serve(stage, "--root", windows_path(root))
    connection = http.client.HTTPConnection(server.host, server.port, timeout=checks.IO_TIMEOUT)
    connection.request("GET", "/bigger.bin")
    response = connection.getresponse()
    assert response.status == 200 and int(response.getheader("Content-Length")) == len(data)
    assert response.read() == data
    connection.request("HEAD", "/bigger.bin")  # the connection goes on
    assert int(connection.getresponse().getheader("Content-Length")) == len(data)
    connection.close()
    server.wait_for_line(rf"^client 1: GET /bigger\.bin 200 {len(data)} bytes ")


# --- request bodies --------------------------------------------------------------------------

def test_bodies_no_route_reads_are_not_held(launch, stage, tmp_path):
    """No route reads a request's body, so the server counts and drops body bytes as they come:
    forty clients that each send all but the last byte of a 1 MiB body leave its memory where
    it was. (A server that kept them would hold 40 MiB here, and up to 1 MiB for each of
    --max-clients clients.)"""
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_bytes(b"home\n")
    server = launch.serve(stage, "--root", windows_path(root), "--idle-timeout", "600")
    assert get(server, "/index.html").body == b"home\n"
    baseline = server.memory_bytes()
    body = b"b" * ((1 << 20) - 1)
    senders = []
    try:
        for method, target in [("POST", "/index.html"), ("GET", "/hello")] * 20:
            raw = RawConnection(server.host, server.port, timeout=30)
            raw.send(f"{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {1 << 20}"
                     f"\r\n\r\n".encode() + body)
            senders.append(raw)
        # Give the server a moment to read what was sent: a server that kept the bodies would
        # hold them by now (it does: 42 MiB, when the parser is made to keep them).
        time.sleep(2)
        assert get(server, "/index.html").body == b"home\n"
        growth = server.memory_bytes() - baseline
    finally:
        for raw in senders:
            raw.close()
    assert growth < 8 << 20, (f"the server grew by {growth >> 10} KiB while 40 clients each "
                              f"sent 1 MiB of a body it does not read")


# --- a sibling of the root -------------------------------------------------------------------

@pytest.mark.parametrize("sibling", ["www-secret", "wwwevil"])
def test_a_link_to_a_sibling_whose_name_starts_with_the_roots_leads_out(launch, stage, tmp_path,
                                                                       sibling):
    """`www/sib -> ../www-secret`: the sibling's final path, `…\\www-secret\\x.txt`, begins with
    the root's, `…\\www`, as a string, and is outside it all the same. The root must be
    compared name by name (`www-secret` is not `www`); a check written as a string prefix
    serves the sibling's files, and the other link tests cannot see it, because none of their
    targets has a name that starts with the root's."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_bytes(b"home\n")
    (tmp_path / sibling).mkdir()
    (tmp_path / sibling / "x.txt").write_bytes(SECRET)
    (tmp_path / f"{sibling}.txt").write_bytes(SECRET)
    try:
        (root / "sib").symlink_to(Path("..") / sibling, target_is_directory=True)
        (root / "sib.txt").symlink_to(Path("..") / f"{sibling}.txt")
    except OSError as error:  # Windows without the privilege (or developer mode)
        pytest.skip(f"cannot create symbolic links here: {error}")
    server = launch.serve(stage, "--root", windows_path(root))
    for target in ("/sib/x.txt", "/sib.txt", "/sib/"):
        response = get(server, target)
        assert response.status == 404, \
            f"{target} (a link to ../{sibling}) answered {response.status}: a path that starts " \
            f"with the root's as a string was taken for one inside it"
        assert SECRET not in response.body
    assert get(server, "/index.html").body == b"home\n"  # the root itself is still served


# --- device names ----------------------------------------------------------------------------

DEVICE_NAMES = ["COM1.log", "LPT9", "con.txt", "NUL", "aux.html", "PRN", "com3"]


def plant(path: Path, data: bytes) -> Path:
    """Write a file whose name Windows keeps for a device; returns the path to remove it by.
    Only the `\\\\?\\` form of a path reaches the file system as it is spelled; any other
    form opens the device instead (and pytest's clean-up of tmp_path could not remove it)."""
    if ON_WINDOWS:
        path = Path("\\\\?\\" + str(path.resolve()))
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", DEVICE_NAMES)
def test_a_device_name_from_a_client_is_refused_by_its_name(launch, stage, tmp_path, name):
    """`GET /COM1.log` names a device on Windows. Opened by an ordinary path it is the serial
    port; opened by a `\\\\?\\` path, as this server opens files, it is a file of that name,
    which ordinary programs can neither make nor delete. Neither is a page of the site: the
    name is refused before anything is opened (400), as tests/unit/test_http.cpp asserts of the
    parser. Here from a client, with a file of that very name planted in the root, so that a
    server that did not check the name would be caught serving it (the other tests ask for
    `/CON` with no such file there, and a 404 from the file system passes them)."""
    root = tmp_path / "www"
    root.mkdir()
    planted = plant(root / name, SECRET)
    try:
        (root / "index.html").write_bytes(b"home\n")
        server = launch.serve(stage, "--root", windows_path(root))
        raw = RawConnection(server.host, server.port)
        for target in (f"/{name}", f"/{name.lower()}", f"/{name.upper()}"):
            raw.get(target)
            response = raw.read_response()
            assert response.status == 400, \
                f"{target}, a device name, answered {response.status}: it reached the file system"
            assert SECRET not in response.body
        raw.get("/index.html")  # refused as a path, not as a request: the connection goes on
        assert raw.read_response().body == b"home\n"
        raw.close()
    finally:
        planted.unlink()
