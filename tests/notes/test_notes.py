"""The notes quote the code as it is: every quoted marker exists and every quoted block is
the code between its markers, to the character (tools/notes.py)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import notes  # noqa: E402  (tools/notes.py)

STAGE01 = "stages/01_blocking_echo/main.cpp"


def test_every_quote_in_the_notes_matches_the_code():
    problems = notes.all_problems()
    assert not problems, "\n".join(problems)


def _problems_of(tmp_path, text):
    note = tmp_path / "note.md"
    note.write_text(text, encoding="utf-8")
    problems = []
    notes.check_quotes(note, {}, problems)
    notes.check_note_shape(note, problems)
    return problems


def test_the_checker_accepts_a_true_quote(tmp_path):
    found, _ = notes.regions(REPO / STAGE01)
    text = f"<!-- code: {STAGE01}#serve_client -->\n```cpp\n{found['serve_client']}\n```\n"
    assert _problems_of(tmp_path, text) == []


def test_the_checker_rejects_a_quote_that_differs(tmp_path):
    found, _ = notes.regions(REPO / STAGE01)
    stale = found["serve_client"].replace("char buffer[buffer_size];", "char buffer[64];")
    text = f"<!-- code: {STAGE01}#serve_client -->\n```cpp\n{stale}\n```\n"
    assert any("differs from the code" in p for p in _problems_of(tmp_path, text))


def test_the_checker_rejects_a_marker_the_code_no_longer_has(tmp_path):
    text = f"<!-- code: {STAGE01}#no_such_marker -->\n```cpp\nint x;\n```\n"
    assert any("no longer has" in p for p in _problems_of(tmp_path, text))


def test_the_checker_rejects_line_numbers(tmp_path):
    problems = _problems_of(tmp_path, "As lines 10-20 of main.cpp show, and main.cpp:42 too.\n")
    assert len(problems) == 1 and "line number" in problems[0]


def test_unbalanced_markers_are_reported(tmp_path):
    source = tmp_path / "x.cpp"
    source.write_text("// ANCHOR: a\nint a;\n// ANCHOR: b\nint b;\n// ANCHOR_END: c\n")
    _, problems = notes.regions(source)
    assert len(problems) == 3  # END c without start, a and b never ended


def test_a_stage_note_or_a_twin_note_must_have_every_section(tmp_path):
    for name in ("07_example.md", "linux_07_example.md"):
        note = tmp_path / name
        note.write_text("# A note without its sections\n", encoding="utf-8")
        problems = []
        notes.check_note_shape(note, problems)
        assert any("Try it by hand" in p for p in problems), name
        assert any("Previous/Next" in p for p in problems), name
