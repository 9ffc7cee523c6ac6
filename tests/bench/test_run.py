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
    assert [s["name"] for s in skipped if s["group"] == "windows"] == ["08 async echo",
                                                                      "10 fast path"]
    assert skipped[0]["why"].endswith("stage08_async_echo.exe is not built")
    assert skipped[1]["why"].endswith("stage10_fast_path.exe is not built")
    out = capsys.readouterr().out
    assert "skipped: 08 async echo (" in out and "skipped: 10 fast path (" in out


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
    cpus = run.processors()
    assert {s.threads for s in native_ready} == {1, max(2, cpus), max(1, cpus - 1)}
    assert all(not s.wine and s.argv[0] == str(native / "asio_echo") for s in native_ready)
    assert {s["name"] for s in skipped if s["group"] == "native"} == {
        twin[1] for twin in run.LINUX_TWINS} | {
        f"{twin[1]}, 1 worker" for twin in run.LINUX_TWINS if twin[3]}
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
    # epoll one per processor, at least two; io_uring one per processor but one, at least one.
    cpus = run.processors()
    assert twins["07 epoll (Linux)"].argv[1:] == ["--workers", str(max(2, cpus))]
    assert twins["08 io_uring (Linux)"].argv[1:] == ["--workers", str(max(1, cpus - 1))]
    # The single-threaded twins take no --workers and are one thread.
    assert twins["01 blocking (Linux)"].argv[1:] == twins["04 poll (Linux)"].argv[1:] == []
    assert twins["01 blocking (Linux)"].threads == twins["04 poll (Linux)"].threads == 1
    for twin in twins.values():
        assert twin.threads in peers, twin.name
        assert peers[twin.threads].argv[-2:] == ["--threads", str(twin.threads)]
        assert twin.description()["threads"] == twin.threads


def test_stage_10_is_picked_up_once_built(trees):
    build, native, linux = trees
    (build / "bin" / "stage10_fast_path.exe").write_bytes(b"")
    ready, skipped = run.built(run.servers(build, native, linux))
    stage10 = next(s for s in ready if s.name == "10 fast path")
    stage07 = next(s for s in ready if s.name == "07 IOCP server")
    assert stage10.argv[1:] == stage07.argv[1:3] and stage10.threads == stage07.threads
    assert stage10.group == "windows" and stage10.connections == run.CONNECTIONS
    assert "10 fast path" not in [s["name"] for s in skipped]


@pytest.mark.skipif(run.ON_WINDOWS, reason="the native group is the Linux programs")
def test_each_twin_with_workers_also_runs_with_one_beside_the_one_thread_peer(trees):
    build, native, linux = trees
    found = {s.name: s for s in run.servers(build, native, linux)}
    for folder, name, _, default_workers in run.LINUX_TWINS:
        if default_workers:
            one = found[f"{name}, 1 worker"]
            assert one.argv == [str(linux / f"stage{folder}"), "--workers", "1"]
            assert one.threads == 1 and one.group == "native"
        else:
            assert f"{name}, 1 worker" not in found
    assert found["asio native, 1 thread"].threads == 1


def test_an_extra_server_by_path_runs_like_the_stage_it_stands_for(trees, capsys):
    build, native, linux = trees
    old = build / "old08.exe"
    old.write_bytes(b"")
    extra, = run.extra_servers([f"old08={old}"])
    assert extra.name == "old08" and extra.group == "windows" and extra.stage
    assert extra.argv == [str(old), "--workers", str(2 * run.processors())]
    assert extra.threads == 2 * run.processors()
    given, = run.extra_servers(["one=/x/y.exe --workers 1"])
    assert given.argv == ["/x/y.exe", "--workers", "1"] and given.threads == 1
    native_one, = run.extra_servers(["twin=/x/stage08_io_uring --workers 1"])
    assert native_one.group == "native" and native_one.argv[1:] == ["--workers", "1"]
    ready, skipped = run.built(run.extra_servers(["gone=/nowhere/old.exe"]))
    assert not ready and skipped[0]["why"].endswith("old.exe is not built")
    with pytest.raises(SystemExit):
        run.extra_servers(["no-program="])


def test_quick_fairness_is_the_issue_table_and_rewrites_nothing():
    args = argparse.Namespace(extra=["old08=/x.exe"], group=None, connections=None, size=None,
                              warmup_ms=300, duration_ms=1000, no_setup=False, no_http=False,
                              no_requests=False, results=run.DEFAULT_RESULTS, stage=None)
    run.quick_fairness(args)
    assert (args.connections, args.size, args.group) == ([1000], [64], "windows")
    assert (args.warmup_ms, args.duration_ms) == (500, 3000)
    assert args.no_setup and args.no_http and args.no_requests
    assert args.results.endswith("quick-fairness.json")
    assert args.stage == ["07 ", "08 ", "10 "]
    args.stage = ["07"]  # narrowed by hand: 07 and the extra servers only
    run.quick_fairness(args)
    assert args.stage == ["07"]


@pytest.mark.parametrize("pin, wine, cores, expected", [
    ("native", False, 2, ("0", "1")),
    ("native", False, 8, ("0", "1-7")),
    ("native", True, 2, (None, None)),      # under Wine: not unless --pin all
    ("all", True, 4, ("0", "1-3")),
    ("none", False, 2, (None, None)),
    ("native", False, 1, (None, None)),     # one core: nothing to separate
])
def test_the_load_generator_and_the_server_are_pinned_apart(pin, wine, cores, expected):
    if run.ON_WINDOWS or not run.shutil.which("taskset"):
        pytest.skip("taskset pins on Linux")
    server = run.Server("s", ["/x"], [1], wine=wine)
    assert run.core_sets(server, argparse.Namespace(pin=pin), cores) == expected
    assert run.on_cores(expected[1]) == (["taskset", "-c", expected[1]] if expected[1] else [])


def test_the_cost_per_round_trip_is_cpu_and_calls_over_the_rate():
    result = {"rate": 20000.0, "server_cpu": 0.5, "wineserver_cpu": None, "loadgen_cpu": 0.8}
    assert run.costs(result, {"server": 100000.0}) == {
        "server_us_per_rt": 25.0, "loadgen_us_per_rt": 40.0, "server_syscalls_per_rt": 5.0}
    assert run.costs({"rate": 0}, {}) == {}


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
