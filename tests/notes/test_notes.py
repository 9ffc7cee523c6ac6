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


COMPLETE_NOTE = """# Stage 07 — An example

Builds on stage 06.

## Try it by hand
## Tests
## What this stage leaves out
## You now know
- one
- two
- three
## New calls
- `CreateIoCompletionPort`

Previous: none · Next: none
"""


def _shape_problems(tmp_path, name, text):
    note = tmp_path / name
    note.write_text(text, encoding="utf-8")
    problems = []
    notes.check_note_shape(note, problems)
    return problems


def test_a_stage_note_with_its_opening_and_closing_passes(tmp_path):
    for name in ("07_example.md", "linux_07_example.md"):
        assert _shape_problems(tmp_path, name, COMPLETE_NOTE) == [], name


def test_a_stage_note_without_its_closing_sections_names_the_note_and_the_section(tmp_path):
    for section in ("## You now know", "## New calls"):
        start = COMPLETE_NOTE.index(section)
        end = COMPLETE_NOTE.index("## New calls") if section == "## You now know" else COMPLETE_NOTE.index("\nPrevious")
        text = COMPLETE_NOTE[:start] + COMPLETE_NOTE[end:]
        problems = _shape_problems(tmp_path, "linux_07_example.md", text)
        assert any("linux_07_example.md" in p and f"'{section}'" in p for p in problems), problems


def test_a_stage_note_that_does_not_say_what_it_builds_on_is_rejected(tmp_path):
    text = COMPLETE_NOTE.replace("Builds on stage 06.", "An example.")
    problems = _shape_problems(tmp_path, "07_example.md", text)
    assert any("07_example.md" in p and "builds on" in p for p in problems), problems


def test_you_now_know_is_three_to_five_lines_and_the_two_sections_come_last(tmp_path):
    too_long = COMPLETE_NOTE.replace("- three\n", "- three\n- four\n- five\n- six\n")
    assert any("not three to five" in p for p in _shape_problems(tmp_path, "07_a.md", too_long))
    exercises_last = COMPLETE_NOTE.replace("\nPrevious", "## Exercises\n\nPrevious")
    assert any("must end with" in p for p in _shape_problems(tmp_path, "07_a.md", exercises_last))


def test_a_deep_dive_is_not_held_to_a_stage_notes_sections_but_says_what_it_is(tmp_path):
    assert _shape_problems(tmp_path, "01_deep_dive_x.md", "# Deep dive: x\n\nText.\n") == []
    assert any("Deep dive" in p for p in _shape_problems(tmp_path, "01_deep_dive_x.md", "# X\n"))


def test_a_link_to_a_heading_must_find_the_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Memory, and the log\n\n## Tests\n\n## Tests\n")
    good = ("See [memory](other.md#memory-and-the-log), [the second](other.md#tests-1) and "
            "[here](#a-heading).\n\n## A heading\n")
    assert _problems_of(tmp_path, good) == []
    bad = "See [memory](other.md#memory-per-connection) and [here](#nowhere).\n"
    problems = _problems_of(tmp_path, bad)
    assert any("other.md#memory-per-connection" in p and "no such heading" in p for p in problems)
    assert any("#nowhere" in p for p in problems), problems
