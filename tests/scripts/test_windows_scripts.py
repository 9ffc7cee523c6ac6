"""What the Windows scripts and the workflow must hold that no PowerShell here can run: each
rule is a failure that reading the documentation predicts on Windows (README, "Windows CI, and
what runs where"). The workflow's own steps run the scripts on Windows; these keep the rules
from coming undone between runs."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((REPO / "scripts").glob("*.ps1"))
WORKFLOW = (REPO / ".github" / "workflows" / "windows.yml").read_text()


def code_of(script: Path) -> str:
    """The script without its comments (a line's text from an unquoted # on)."""
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in script.read_text().splitlines())


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_native_commands_are_judged_by_their_exit_code_not_by_stop(script):
    # Windows PowerShell 5.1 with Stop makes a native program's first stderr line a terminating
    # error when the output is redirected (PowerShell issues #3996, #4002).
    assert not re.search(r"\$ErrorActionPreference\s*=\s*['\"]Stop", code_of(script)), script.name


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_the_callers_location_is_given_back(script):
    code = code_of(script)
    assert "Set-Location" not in code, f"{script.name}: Set-Location leaves the caller elsewhere"
    pushes = re.findall(r"Push-Location[^\n]*", code)
    assert pushes, script.name
    for push in pushes:
        assert "-LiteralPath" in push, f"{script.name}: {push} reads [ ] as wildcards"
    # The work between them in try, Pop-Location in its finally.
    assert re.search(r"Push-Location[^\n]*\ntry \{\n.*\n\} finally \{\n    Pop-Location\n\}\nexit ",
                     code, re.S), script.name


def test_test_ps1_takes_python_from_env_then_the_launcher_then_python():
    code = code_of(REPO / "scripts" / "test.ps1")
    order = [code.find("$env:PYTHON"), code.find("@('py', '-3')"), code.find("@('python')")]
    assert -1 not in order and order == sorted(order), order
    assert not re.search(r"^\s*py -m", code, re.M), "a bare `py -m` is left"


def test_run_ps1_promises_no_exit_code_0_after_ctrl_c():
    header = (REPO / "scripts" / "run.ps1").read_text().split("\n\n")[0]
    assert "0 after Ctrl+C" not in header
    assert "not the stage's" in header


def test_the_workflow_runs_test_ps1_under_windows_powershell():
    assert ("run: powershell -NoProfile -ExecutionPolicy Bypass -File scripts\\test.ps1 --stage 01"
            in WORKFLOW)


@pytest.mark.parametrize("shell", ["powershell", "pwsh"])
def test_the_workflow_parses_every_script_under_both_powershells(shell):
    steps = WORKFLOW.split("\n      - ")
    assert any(f"shell: {shell}\n" in step and "Language.Parser]::ParseFile(" in step
               for step in steps), shell


def test_every_job_has_a_timeout_and_node_24_actions():
    jobs = re.findall(r"^  (\w+):\n    runs-on:", WORKFLOW, re.M)
    assert jobs and WORKFLOW.count("\n    timeout-minutes: 60\n") == len(jobs), jobs
    # The majors that run on Node 20, which the runners dropped.
    for old in ("actions/checkout@v4", "actions/setup-python@v5", "ilammy/msvc-dev-cmd@v1"):
        assert old not in WORKFLOW, old
