"""pytest set-up shared by every test: which stages to test, where the build is, how to start
a stage and make sure it is stopped.

    pytest tests                     every stage that is built, and every Linux twin
    pytest tests --stage 01          one stage (repeat --stage or give 01,03 for several)
    pytest tests --stage linux/07    the Linux twin of stage 07 (stages/linux/07_epoll)
    pytest tests --build-dir DIR     a build tree other than the default
    pytest tests --native-build-dir DIR   where the Linux twins are built (linux-native preset)
    pytest tests --exe PATH --as 02  your own program, in stage 02's place: stage 02's row of
                                     the capability table, and nothing else (README, "Test your
                                     own server")

The `server` fixture starts the stage under test on a free port (`--port 0`), reads the real
port from its `listening on` line, and when the test ends stops it with Ctrl+C and checks
that it exits with code 0 — for every test, so every test also checks the shutdown.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import pytest

from harness.process import ON_WINDOWS, ServerProcess, WineSession
from harness.stages import BY_NUMBER, STAGES, Stage

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BUILD_DIRS = (["build/windows-msvc", "build/windows-mingw"] if ON_WINDOWS
                      else ["build/linux-mingw-wine"])
DEFAULT_NATIVE_BUILD_DIR = "build/linux-native"  # the Linux twins (stages/linux)
TWINS_ON_WINDOWS = ("Linux twins (stages/linux): not tested here: they are Linux programs "
                    "(POSIX signals, poll, epoll), built and tested on Linux")


def pytest_addoption(parser):
    group = parser.getgroup("stages")
    group.addoption("--stage", action="append", default=[],
                    help="stage number to test, e.g. 01 (repeatable, or comma-separated); "
                         "default: every stage that is built")
    group.addoption("--build-dir", default=os.environ.get("BUILD_DIR"),
                    help="CMake build tree holding bin/stageNN_*.exe "
                         f"(default: the first of {', '.join(DEFAULT_BUILD_DIRS)} that exists)")
    group.addoption("--native-build-dir", default=os.environ.get("NATIVE_BUILD_DIR"),
                    help="CMake build tree of the Linux twins, holding bin/stageNN_* "
                         f"(default: {DEFAULT_NATIVE_BUILD_DIR}, the linux-native preset's)")
    group.addoption("--exe", metavar="PATH",
                    help="test this program in the place of the stage named by --as: a .exe runs "
                         "under Wine when not on Windows, a .py with this Python, anything else "
                         "directly; only the client tests of that stage's row run")
    group.addoption("--as", dest="as_stage", metavar="NN",
                    help="with --exe: the stage whose row of the capability table the program "
                         "is tested against")


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*capabilities): run only against stages that have them")
    config.addinivalue_line("markers", "slow: a long test (still part of the test command)")


def build_dir(config) -> Path:
    given = config.getoption("--build-dir")
    if given:
        return Path(given).resolve()
    for candidate in DEFAULT_BUILD_DIRS:
        if (REPO / candidate / "bin").is_dir():
            return REPO / candidate
    return REPO / DEFAULT_BUILD_DIRS[0]


def native_build_dir(config) -> Path:
    given = config.getoption("--native-build-dir")
    return Path(given).resolve() if given else REPO / DEFAULT_NATIVE_BUILD_DIR


def bin_dir(config, stage: Stage) -> Path:
    """Where the stage's program is built: the Windows build tree, or the native one for a
    Linux twin."""
    return (native_build_dir(config) if stage.native else build_dir(config)) / "bin"


def is_built(config, stage: Stage) -> bool:
    return (bin_dir(config, stage) / stage.exe_name).exists()


def own_program(config) -> Path | None:
    """The program given with --exe (checked), or None when the tests run our own stages."""
    given, as_stage = config.getoption("--exe"), config.getoption("as_stage")
    if given is None and as_stage is None:
        return None
    if given is None or as_stage is None:
        raise pytest.UsageError("--exe PATH and --as NN go together: the program, and the stage "
                                "whose row it is tested against")
    if config.getoption("--stage"):
        raise pytest.UsageError("--stage does not apply with --exe: --as names the one stage")
    if as_stage not in BY_NUMBER:
        raise pytest.UsageError(f"unknown stage {as_stage} for --as; known: {', '.join(BY_NUMBER)}")
    program = Path(given).resolve()
    if not program.is_file():
        raise pytest.UsageError(f"--exe {given}: no such file")
    runs_directly = runner_for(program, wine_run=None) == []
    if runs_directly and not ON_WINDOWS and not os.access(program, os.X_OK):
        raise pytest.UsageError(f"--exe {given} is not executable (chmod +x)")
    return program


def runs_under_wine(program: Path) -> bool:
    return program.suffix.lower() == ".exe" and not ON_WINDOWS


def runner_for(program: Path, wine_run: Path | None) -> list[str]:
    """What a program is started through: Wine for a Windows program anywhere but on Windows
    (the build tree's wine-run), this Python for a .py (Windows reads no #! line), and nothing
    for the rest: a native program or a script with a #! line runs directly. Deciding by the
    file, not by the stage, is what lets a native Linux twin of a stage (stages/linux/) be one
    more row whose program has no .exe."""
    if runs_under_wine(program):
        return [str(wine_run)]
    if program.suffix == ".py":
        return [sys.executable]
    return []


def selected_stages(config) -> list[Stage]:
    if own_program(config):
        return [BY_NUMBER[config.getoption("as_stage")]]
    wanted = [part.strip() for option in config.getoption("--stage") for part in option.split(",")]
    if wanted:
        unknown = [number for number in wanted if number not in BY_NUMBER]
        if unknown:
            raise pytest.UsageError(f"unknown stage {', '.join(unknown)}; known: "
                                    f"{', '.join(BY_NUMBER)}")
        stages = [BY_NUMBER[number] for number in wanted]
        if ON_WINDOWS and any(s.native for s in stages):
            raise pytest.UsageError(TWINS_ON_WINDOWS)
        missing = [str(bin_dir(config, s) / s.exe_name) for s in stages if not is_built(config, s)]
        if missing:
            raise pytest.UsageError(f"not built: {', '.join(missing)} (scripts/test.sh builds "
                                    "both presets; the twins: cmake --preset linux-native)")
        return stages
    return [s for s in STAGES if is_built(config, s) and not (s.native and ON_WINDOWS)]


def pytest_report_header(config):
    """One line on the Linux twins: skipped on Windows, and why; not built, and how to."""
    if own_program(config) or config.getoption("--stage"):
        return None
    if ON_WINDOWS:
        return TWINS_ON_WINDOWS
    twins = [s for s in STAGES if s.native]
    built = [s for s in twins if is_built(config, s)]
    if len(built) == len(twins):
        return f"Linux twins: {', '.join(s.number for s in built)} (from {native_build_dir(config)})"
    missing = ", ".join(s.number for s in twins if s not in built)
    return (f"Linux twins not built in {native_build_dir(config)}, so not tested: {missing} "
            "(cmake --preset linux-native && cmake --build --preset linux-native)")


def pytest_generate_tests(metafunc):
    """Run each test that takes `stage` against every selected stage that has what it needs."""
    if "stage" not in metafunc.fixturenames:
        return
    needs: set[str] = set()
    for marker in metafunc.definition.iter_markers("needs"):
        needs.update(marker.args)
    stages = [s for s in selected_stages(metafunc.config) if s.has(*needs)]
    # Test ids: 07, or linux-07 for a twin (a "/" in an id cannot be written in a -k expression).
    if not stages:  # say why, rather than pytest's "got empty parameter set"
        reason = f"no selected stage has {', '.join(sorted(needs))}"
        metafunc.parametrize("stage", [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                             ids=["none"])
        return
    metafunc.parametrize("stage", stages, ids=[s.number.replace("/", "-") for s in stages])


def pytest_collection_modifyitems(config, items):
    if own_program(config):
        # A program of your own is tested by its row's client tests; the rest (the harness's own
        # tests, the notes check, the scripts) are about this repository.
        others = [item for item in items if "stage" not in getattr(item, "fixturenames", ())]
        if others:
            config.hook.pytest_deselected(items=others)
            items[:] = [item for item in items if "stage" in getattr(item, "fixturenames", ())]
        return
    if not any("stage" in getattr(item, "fixturenames", ()) for item in items):
        return
    if not selected_stages(config):
        raise pytest.UsageError(f"no stage executables in {build_dir(config) / 'bin'} or "
                                f"{native_build_dir(config) / 'bin'}: build first "
                                "(scripts/test.sh does), or pass --build-dir")


@pytest.fixture(scope="session", autouse=True)
def enough_file_descriptors():
    """Some tests hold thousands of connections, one descriptor each on this side. The servers
    the tests start inherit the limit too (a process's limits pass to the programs it starts);
    the Linux twins raise their own as well, as a server started from a shell must."""
    if ON_WINDOWS:
        yield
        return
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 25000), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(scope="session")
def wine_session(pytestconfig):
    """Under Wine: one persistent wineserver for the whole run, ended (with every Wine process
    of the prefix) at the end. On Windows: nothing."""
    if ON_WINDOWS:
        yield None
        return
    wine_run = build_dir(pytestconfig) / "wine-run"
    if not wine_run.exists():
        raise pytest.UsageError(f"{wine_run} not found: configure with the linux-mingw-wine preset")
    session = WineSession(wine_run)
    session.start()
    yield session
    session.stop()


class Launcher:
    """Starts stage programs (or any argv) and stops every one of them when the test ends."""

    def __init__(self, config, wine: Callable[[], WineSession | None]):
        self.config = config
        self.own_program = own_program(config)  # --exe PATH, or None: our own stages
        self._wine = wine  # the Wine session, started on first use: only a .exe needs it
        self.started: list[ServerProcess] = []

    @property
    def wine(self) -> WineSession | None:
        """The Wine session (started now if it was not yet); None on Windows."""
        return self._wine()

    @property
    def bin(self) -> Path:
        """The Windows build tree's bin/ (the Linux twins: bin_dir(config, stage))."""
        return build_dir(self.config) / "bin"

    def program(self, stage: Stage, variant: str | None = None) -> Path:
        """What plays `stage`: the program given with --exe, or the stage's own build — or,
        with `variant`, a test build of it beside it in bin/ (that file's name)."""
        if variant:
            return bin_dir(self.config, stage) / variant
        return self.own_program or bin_dir(self.config, stage) / stage.exe_name

    def argv_for(self, stage: Stage, args: list[str], variant: str | None = None) -> list[str]:
        program = self.program(stage, variant)
        wine = self._wine() if runs_under_wine(program) else None
        wine_run = wine.wine_run if wine else None
        return [*runner_for(program, wine_run), str(program), *stage.extra_args, *args]

    def start(self, stage: Stage, *args: str, variant: str | None = None) -> ServerProcess:
        """Start a stage; it is stopped at the end of the test if still running."""
        return self.start_argv(self.argv_for(stage, list(args), variant))

    def start_argv(self, argv: list[str]) -> ServerProcess:
        # A program run through wine-run gets the session's environment (its prefix, quiet).
        wine = self._wine() if argv and argv[0].endswith("wine-run") else None
        process = ServerProcess(argv, env=wine.env if wine else None)
        self.started.append(process)
        return process

    def serve(self, stage: Stage, *args: str, variant: str | None = None) -> ServerProcess:
        """Start a stage on a free port and wait until it listens."""
        process = self.start(stage, "--port", "0", *args, variant=variant)
        process.wait_listening()
        return process

    def stop_all(self) -> list[str]:
        """Ctrl+C every process still running; return what went wrong."""
        problems = []
        for process in self.started:
            if process.exit_code is not None:
                continue  # the test waited for this exit itself and checked the code
            if not process.alive():
                problems.append(f"{process.name} ended during the test with code "
                                f"{process.proc.returncode}\n{process.output_text()}")
                continue
            try:
                code = process.stop()
            except AssertionError as error:  # did not exit: stop() killed it
                problems.append(f"after Ctrl+C: {error}")
                continue
            if code != 0:
                problems.append(f"{process.name} exited with code {code} after Ctrl+C "
                                f"(expected 0)\n{process.output_text()}")
        return problems


@pytest.fixture
def launch(pytestconfig, request):
    # Wine is started the first time a Windows program is (and then kept for the session): the
    # Linux twins, a native program of your own and the Python servers need none, so a run of
    # those alone needs no Windows build. (On Windows, wine_session is None.)
    launcher = Launcher(pytestconfig, lambda: request.getfixturevalue("wine_session"))
    yield launcher
    problems = launcher.stop_all()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def server(launch, stage) -> ServerProcess:
    """The stage under test, listening on a free port; stopped by Ctrl+C after the test, which
    must end it with exit code 0."""
    return launch.serve(stage)


@pytest.fixture
def address(server) -> tuple[str, int]:
    return server.host, server.port


def python_program(path: Path, *args: str) -> list[str]:
    return [sys.executable, str(path), *args]
