"""The benchmark driver (bench/run.py): which servers it runs, how they are grouped, and that a
stage not built yet is skipped with a line instead of stopping the ladder. Nothing is started."""

import argparse
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import run  # noqa: E402  (bench/run.py)


@pytest.fixture
def trees(tmp_path):
    """A Windows build tree with every stage but 08, a native tree with the asio peer, and an
    empty tree for the Linux twins."""
    build, native, linux = tmp_path / "build", tmp_path / "native", tmp_path / "linux"
    (build / "bin").mkdir(parents=True)
    native.mkdir()
    linux.mkdir()
    for name in ("stage01_blocking_echo.exe", "stage02_thread_per_client.exe",
                 "stage04_select.exe", "stage05_iocp_basics.exe", "stage06_overlapped_io.exe",
                 "stage07_iocp_server.exe", "peer_asio_echo.exe"):
        (build / "bin" / name).write_bytes(b"")
    (native / "asio_echo").write_bytes(b"")
    return build, native, linux


def test_a_stage_not_built_is_skipped_with_a_line(trees, capsys):
    build, native, linux = trees
    ready, skipped = run.built(run.servers(build, native, linux))
    names = [s.name for s in ready]
    assert "07 IOCP server" in names and "08 async echo" not in names
    assert [s["name"] for s in skipped if s["group"] == "windows"] == ["08 async echo"]
    assert skipped[0]["why"].endswith("stage08_async_echo.exe is not built")
    assert "skipped: 08 async echo (" in capsys.readouterr().out


def test_stage_08_runs_like_07_once_built(trees):
    build, native, linux = trees
    (build / "bin" / "stage08_async_echo.exe").write_bytes(b"")
    ready, skipped = run.built(run.servers(build, native, linux))
    by_name = {s.name: s for s in ready}
    stage07, stage08 = by_name["07 IOCP server"], by_name["08 async echo"]
    assert stage08.connections == stage07.connections == run.CONNECTIONS
    assert stage08.argv[1:] == ["--workers", str(2 * run.processors())] == stage07.argv[1:]
    assert "08 async echo" not in [s["name"] for s in skipped]


def test_the_stages_are_graded_against_a_peer_with_as_many_threads(trees):
    build, native, linux = trees
    found = run.servers(build, native, linux)
    peers = {s.threads: s for s in found if not s.stage and s.group == "windows"}
    for name in ("07 IOCP server", "08 async echo"):
        stage = next(s for s in found if s.name == name)
        assert stage.threads in peers
        assert peers[stage.threads].argv[-2:] == ["--threads", str(stage.threads)]


@pytest.mark.skipif(run.ON_WINDOWS, reason="the native group is the Linux programs")
def test_native_programs_are_their_own_group_and_run_without_wine(trees):
    build, native, linux = trees
    ready, skipped = run.built(run.servers(build, native, linux))
    native_ready = [s for s in ready if s.group == "native"]
    # No twin built: the native asio peer alone, one thread and every thread count of a twin.
    assert [s.name for s in native_ready][0] == "asio native, 1 thread"
    assert {s.threads for s in native_ready} == {1, run.processors(), 2 * run.processors()}
    assert all(not s.wine and s.argv[0] == str(native / "asio_echo") for s in native_ready)
    assert {s["name"] for s in skipped if s["group"] == "native"} == {
        twin[1] for twin in run.LINUX_TWINS}
    (linux / "stage07_epoll").write_bytes(b"")
    ready, _ = run.built(run.servers(build, native, linux))
    assert "07 epoll (Linux)" in [s.name for s in ready if s.group == "native"]


@pytest.mark.skipif(run.ON_WINDOWS, reason="the native group is the Linux programs")
def test_the_twins_are_graded_against_a_native_peer_with_as_many_threads(trees):
    build, native, linux = trees
    found = run.servers(build, native, linux)
    peers = {s.threads: s for s in found if not s.stage and s.group == "native"}
    twins = {s.name: s for s in found if s.stage and s.group == "native"}
    # Each twin's worker count is on its command line (its own default, stated), not left to it.
    assert twins["07 epoll (Linux)"].argv[1:] == ["--workers", str(2 * run.processors())]
    assert twins["08 io_uring (Linux)"].argv[1:] == ["--workers", str(run.processors())]
    # The single-threaded twins take no --workers and are one thread.
    assert twins["01 blocking (Linux)"].argv[1:] == twins["04 poll (Linux)"].argv[1:] == []
    assert twins["01 blocking (Linux)"].threads == twins["04 poll (Linux)"].threads == 1
    for twin in twins.values():
        assert twin.threads in peers, twin.name
        assert peers[twin.threads].argv[-2:] == ["--threads", str(twin.threads)]
        assert twin.description()["threads"] == twin.threads


def test_group_and_stage_select_servers(trees):
    build, native, linux = trees
    found = run.servers(build, native, linux)
    pick = lambda **kw: [s.name for s in found if run.wanted(  # noqa: E731
        s, argparse.Namespace(**{"stage": None, "group": None, **kw}))]
    assert all(not name.startswith("asio native") for name in pick(group="windows"))
    assert all(s.group == "native" for s in found if s.name in pick(group="native"))
    assert pick(stage=["07"], group="windows") == ["07 IOCP server"]


def test_a_server_description_carries_what_the_report_groups_by(trees):
    build, native, linux = trees
    stage07 = next(s for s in run.servers(build, native, linux) if s.name == "07 IOCP server")
    assert stage07.description() == {
        "name": "07 IOCP server", "connections": run.CONNECTIONS, "why_not": "",
        "group": "windows", "role": "stage", "threads": 2 * run.processors(),
        "program": "stage07_iocp_server.exe"}


def test_the_http_stage_is_09():
    build = Path("build")
    stage, peer = run.http_servers(build)
    assert stage.name == "09 HTTP server" and stage.program.name == "stage09_http_server.exe"
    assert stage.threads == peer.threads
