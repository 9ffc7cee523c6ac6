#!/usr/bin/env python3
"""Keep the notes true to the code.

The notes quote code by named markers, never by line numbers. In a source file a region is
marked like this:

    // ANCHOR: serve_client
    ...code...
    // ANCHOR_END: serve_client

and a note quotes it with a comment line naming file and marker, followed by a fenced block:

    <!-- code: stages/01_blocking_echo/main.cpp#serve_client -->
    ```cpp
    ...the same code...
    ```

Usage (from the repository root):
    python3 tools/notes.py check    report every quote that no longer matches, and exit 1 if any
    python3 tools/notes.py sync     rewrite every quoted block from the code as it is now

`check` is part of the test command (tests/notes/test_notes.py). It also checks that each
stage's note has the sections every note must have (it opens with what it builds on and ends
with "You now know" and "New calls"), that a deep dive says it is one, that its links lead
to a file that exists (and to a heading it has, for a link with #), and that no note points at
code by line number.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTES = REPO / "notes"
SOURCE_DIRS = ["stages", "common", "tests/unit"]
SOURCE_SUFFIXES = {".cpp", ".h", ".hpp", ".py", ".cmake"}

DIRECTIVE = re.compile(r"^<!-- code: (?P<path>[^#\s]+)#(?P<name>[\w-]+) -->$")
ANCHOR = re.compile(r"\bANCHOR: (?P<name>[\w-]+)")
ANCHOR_END = re.compile(r"\bANCHOR_END: (?P<name>[\w-]+)")
LINE_NUMBER = re.compile(r"\b[Ll]ines? \d+|#L\d+|\.(?:cpp|h|py):\d+")
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
# Every stage note (notes/NN_*.md, and a Linux twin's notes/linux_NN_*.md) has these;
# Previous/Next may say "none" on the ends.
REQUIRED_SECTIONS = ["## Try it by hand", "## Tests", "## What this stage leaves out"]
# ...opens with what it builds on (a line saying "Builds on" before its first section)...
BUILDS_ON = re.compile(r"\bbuilds on\b", re.IGNORECASE)
# ...and closes with these two, in this order, as its last two sections (the Previous/Next
# links may follow). "You now know" is three to five lines: the lesson, said once more.
CLOSING_SECTIONS = ["## You now know", "## New calls"]
# A deep dive (notes/NN_deep_dive_*.md) belongs to a stage but is no stage note: nothing later
# needs it, so it has no sections to keep; its title says what it is.
DEEP_DIVE = "_deep_dive_"


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def regions(path: Path) -> tuple[dict[str, str], list[str]]:
    """The marked regions of a source file, by name, and any marker problems."""
    found: dict[str, str] = {}
    problems: list[str] = []
    open_regions: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        end = ANCHOR_END.search(line)
        start = ANCHOR.search(line)
        if end:
            name = end.group("name")
            if name not in open_regions:
                problems.append(f"{rel(path)}: ANCHOR_END: {name} without its ANCHOR")
            else:
                found[name] = textwrap.dedent("\n".join(open_regions.pop(name))).strip("\n")
        elif start:
            name = start.group("name")
            if name in found or name in open_regions:
                problems.append(f"{rel(path)}: marker {name} appears twice")
            open_regions[name] = []
        else:
            for lines in open_regions.values():
                lines.append(line)
    for name in open_regions:
        problems.append(f"{rel(path)}: ANCHOR: {name} has no ANCHOR_END")
    return found, problems


def source_files() -> list[Path]:
    files = []
    for folder in SOURCE_DIRS:
        files += [p for p in sorted((REPO / folder).rglob("*")) if p.suffix in SOURCE_SUFFIXES]
    return files


def quotes(note: Path):
    """Yield (index of directive line, path, name, index of the fence's first line, index of
    its closing fence) for every quote in a note."""
    lines = note.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        match = DIRECTIVE.match(line.strip())
        if not match:
            continue
        fence_start = index + 1
        if fence_start >= len(lines) or not lines[fence_start].startswith("```"):
            yield index, match.group("path"), match.group("name"), None, None
            continue
        fence_end = fence_start + 1
        while fence_end < len(lines) and not lines[fence_end].startswith("```"):
            fence_end += 1
        yield index, match.group("path"), match.group("name"), fence_start, fence_end


def check_quotes(note: Path, cache: dict[Path, dict[str, str]], problems: list[str]) -> None:
    lines = note.read_text(encoding="utf-8").splitlines()
    where = rel(note)
    for index, path, name, fence_start, fence_end in quotes(note):
        source = REPO / path
        if not source.exists():
            problems.append(f"{where}: quotes {path}, which does not exist")
            continue
        if source not in cache:
            cache[source], marker_problems = regions(source)
            problems.extend(marker_problems)
        if name not in cache[source]:
            problems.append(f"{where}: quotes marker {name}, which {path} no longer has")
            continue
        if fence_start is None:
            problems.append(f"{where}: the quote of {path}#{name} has no code block after it")
            continue
        if fence_end >= len(lines):
            problems.append(f"{where}: the code block quoting {path}#{name} is never closed")
            continue
        quoted = "\n".join(lines[fence_start + 1:fence_end]).strip("\n")
        if quoted != cache[source][name]:
            problems.append(f"{where}: the quote of {path}#{name} differs from the code "
                            f"(run: python3 tools/notes.py sync)")


def check_note_shape(note: Path, problems: list[str]) -> None:
    text = note.read_text(encoding="utf-8")
    where = rel(note)
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and LINE_NUMBER.search(line):
            problems.append(f"{where}: points at code by line number: {line.strip()}")
    if DEEP_DIVE in note.name:
        if not text.startswith("# Deep dive"):
            problems.append(f"{where}: a deep dive's title starts with '# Deep dive'")
    elif re.match(r"(linux_)?\d\d_", note.name):  # a stage's note, or a Linux twin's
        for section in REQUIRED_SECTIONS:
            if section not in text:
                problems.append(f"{where}: has no '{section}' section")
        if "Previous:" not in text or "Next:" not in text:
            problems.append(f"{where}: has no Previous/Next links")
        check_opening_and_closing(note, text, problems)
    for match in LINK.finditer(text):
        target = match.group("target")
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        page = note.parent / path if path else note
        if not page.exists():
            problems.append(f"{where}: link to {target}, which does not exist")
        elif anchor and page.suffix == ".md" and anchor not in heading_anchors(page):
            problems.append(f"{where}: link to {target}: {rel(page)} has no such heading")


def heading_anchors(page: Path) -> set[str]:
    """The anchors of a Markdown page's headings, as GitHub makes them: the heading's text in
    lower case, without any character but letters, digits, spaces, hyphens and underscores,
    its spaces made hyphens; a repeated one gets -1, -2, ..."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in outside_code(page.read_text(encoding="utf-8")):
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        if slug in seen:
            seen[slug] += 1
            slug = f"{slug}-{seen[slug]}"
        else:
            seen[slug] = 0
        anchors.add(slug)
    return anchors


def check_opening_and_closing(note: Path, text: str, problems: list[str]) -> None:
    """A stage note opens with what it builds on and ends with "You now know" (three to five
    lines) and "New calls", its last two sections."""
    where = rel(note)
    opening = text.split("\n## ", 1)[0]
    if not BUILDS_ON.search(opening):
        problems.append(f"{where}: does not open with what it builds on "
                        f"(say 'Builds on' before its first '## ' section)")
    headings = [line.strip() for line in outside_code(text) if line.startswith("## ")]
    for section in CLOSING_SECTIONS:
        if section not in headings:
            problems.append(f"{where}: has no '{section}' section")
    if all(section in headings for section in CLOSING_SECTIONS) and headings[-2:] != CLOSING_SECTIONS:
        problems.append(f"{where}: must end with '{CLOSING_SECTIONS[0]}' then "
                        f"'{CLOSING_SECTIONS[1]}' (its last sections are {headings[-2:]})")
    if CLOSING_SECTIONS[0] in headings:
        lines = section_lines(text, CLOSING_SECTIONS[0])
        items = [line for line in lines if re.match(r"[-*] ", line)] or lines
        if not 3 <= len(items) <= 5:
            problems.append(f"{where}: '{CLOSING_SECTIONS[0]}' has {len(items)} line(s), "
                            f"not three to five")


def outside_code(text: str) -> list[str]:
    """The lines of a note that are not inside a fenced code block."""
    lines, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code:
            lines.append(line)
    return lines


def section_lines(text: str, heading: str) -> list[str]:
    """The non-blank lines of one section, up to the next heading or the Previous/Next line."""
    lines, inside = [], False
    for line in outside_code(text):
        if line.strip() == heading:
            inside = True
        elif inside and (line.startswith("#") or line.startswith("Previous:")
                         or line.startswith("---")):
            break
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def all_problems() -> list[str]:
    problems: list[str] = []
    cache: dict[Path, dict[str, str]] = {}
    for source in source_files():  # marker pairs must be right even where no note quotes them
        if source not in cache:
            cache[source], marker_problems = regions(source)
            problems.extend(marker_problems)
    for note in sorted(NOTES.glob("*.md")) + [REPO / "README.md"]:
        if note.exists():
            check_quotes(note, cache, problems)
            check_note_shape(note, problems)
    return problems


def sync() -> int:
    changed = 0
    for note in sorted(NOTES.glob("*.md")) + [REPO / "README.md"]:
        if not note.exists():
            continue
        lines = note.read_text(encoding="utf-8").splitlines()
        for index, path, name, fence_start, fence_end in reversed(list(quotes(note))):
            found, _ = regions(REPO / path) if (REPO / path).exists() else ({}, [])
            if name not in found:
                print(f"{rel(note)}: {path}#{name} not found; left as it is")
                continue
            language = "python" if path.endswith(".py") else "cmake" if path.endswith(".cmake") else "cpp"
            block = [f"```{language}", *found[name].splitlines(), "```"]
            if fence_start is None:
                lines[index + 1:index + 1] = block
            else:
                lines[fence_start:fence_end + 1] = block
        new_text = "\n".join(lines) + "\n"
        if new_text != note.read_text(encoding="utf-8"):
            note.write_text(new_text, encoding="utf-8")
            changed += 1
            print(f"updated {rel(note)}")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["check"]:
        problems = all_problems()
        for problem in problems:
            print(problem)
        print(f"notes: {len(problems)} problem(s)" if problems else "notes: every quote matches the code")
        return 1 if problems else 0
    if argv[1:] == ["sync"]:
        return sync()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
