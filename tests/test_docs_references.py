"""Every file reference in code, README, docs and report strings resolves inside the repository.

A reference is any ``name.md`` mention (optionally with a directory, ``docs/methods.md``), with an
optional ``#anchor`` or ``section N``, and any source path with a directory (``agents/x.py``,
``dir/x.ipynb``). It resolves when the file exists relative to the mentioning
file or to the repository root and, when an anchor or section is named, the target has that
heading (GitHub's heading slugs). ``summary.md`` is the report every run writes, not a repository
file, and is allowed. No document outside the repository (the team's working notes) may be named
anywhere in the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()
CODE_DIRS = ("agents", "models", "analysis", "runner", "scenarios", "dualsim", "benchmarks")
CODE_DIRS += ("tests",)
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build"}
SKIP_DIRS |= {"dist", "results", ".hypothesis", ".ipynb_checkpoints", "node_modules"}
OUTPUT_NAMES = {"summary.md"}  # written into every run folder, not part of the repository
# a run's summary may link a sibling run folder's summary (make run: transition/, particles/)
SIBLING_OUTPUT = re.compile(r"\.\./[\w.-]+/summary\.md", re.IGNORECASE)

REFERENCE = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md|(?:[\w.-]+/)+[\w.-]+\.(?:py|ipynb))(?![\w])"
    r"(?:#([\w-]+)|\s+(?:section|§)\s*(\d+(?:\.\d+)*))?",
    re.IGNORECASE,
)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")

# Names of documents that live outside the repository. Built here rather than written out, so
# that this file passes its own scan.
_NOTES = ("physics", "numerics", "feasibility", "meanfield")
_NOTES_MD = ("layout", "design")
TEAM_NAMES = re.compile(
    r"\b(?:" + "|".join(n.upper() for n in _NOTES) + r")\b"
    r"|\b(?:" + "|".join(n.upper() for n in _NOTES_MD) + r")\.md\b"
    r"|"
    + re.escape("/".join(("..", "shared")))
    + r"|"
    + re.escape("/".join(("", "work", "shared")))
    + r"|\b(?:seed-abstract|paper)\.md\b"
)


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def headings(markdown: str) -> tuple[set[str], set[str]]:
    """Anchors (with GitHub's ``-1``, ``-2`` suffixes for repeats) and leading section numbers."""
    anchors: set[str] = set()
    numbers: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
        number = re.match(r"(\d+(?:\.\d+)*)\.?(?:\s|$)", m.group(2))
        if number:
            numbers.add(number.group(1))
    return anchors, numbers


def bad_references(text: str, where: Path, root: Path = ROOT, *, sources: bool = True) -> list[str]:
    """The references in ``text`` (a file at ``where``) that do not resolve under ``root``.

    With ``sources=False`` only ``.md`` references are checked (test modules name made-up
    source paths as data).
    """
    bad = []
    for m in REFERENCE.finditer(text):
        name, anchor, section = m.group(1), m.group(2), m.group(3)
        if name.lower() in OUTPUT_NAMES or SIBLING_OUTPUT.fullmatch(name):
            continue
        if not (sources or name.lower().endswith(".md")):
            continue
        candidates = [where.parent / name, root / name]
        target = next((p for p in candidates if p.is_file()), None)
        if target is None or root.resolve() not in target.resolve().parents:
            bad.append(f"{m.group(0)}: no such file")
            continue
        if (anchor or section) and target.suffix.lower() == ".md":
            anchors, numbers = headings(target.read_text(encoding="utf-8"))
            if anchor and anchor.lower() not in anchors:
                bad.append(f"{m.group(0)}: no heading #{anchor} in {name}")
            if section and section not in numbers:
                bad.append(f"{m.group(0)}: no section {section} in {name}")
    return bad


def team_names(text: str) -> list[str]:
    """Mentions of documents that are not in the repository."""
    return [m.group(0) for m in TEAM_NAMES.finditer(text)]


def _repository_files(root: Path = ROOT) -> list[Path]:
    """Tracked and untracked, not ignored, files (git), or a walk without the usual build dirs."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        files = [root / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in root.rglob("*") if p.is_file()]
    keep = []
    for p in files:
        parts = p.relative_to(root).parts
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in parts):
            continue
        if p.is_file():
            keep.append(p)
    return keep


def _text(path: Path) -> str | None:
    """The file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def _referencing_files() -> list[Path]:
    """Code, README, docs and notebooks: the files whose references must resolve."""
    out = []
    for p in _repository_files():
        rel = p.relative_to(ROOT)
        if p.resolve() == THIS:
            continue  # its own examples of bad references are deliberate
        if p.suffix in {".md", ".ipynb"} or (p.suffix == ".py" and rel.parts[0] in CODE_DIRS):
            out.append(p)
    return out


def test_docs_pages_exist() -> None:
    for page in ("README", "physics", "methods", "claims", "results", "output"):
        assert (ROOT / "docs" / f"{page}.md").is_file(), page


def test_every_reference_resolves() -> None:
    bad = []
    for path in _referencing_files():
        text = _text(path)
        if text is not None:
            sources = path.relative_to(ROOT).parts[0] != "tests"
            found = bad_references(text, path, sources=sources)
            bad += [f"{path.relative_to(ROOT)}: {b}" for b in found]
    assert not bad, "unresolved references:\n" + "\n".join(bad)


def test_no_document_outside_the_repository_is_named() -> None:
    hits = []
    for path in _repository_files():
        text = _text(path)
        if text is None:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            hits += [f"{path.relative_to(ROOT)}:{i}: {name}" for name in team_names(line)]
    assert not hits, "documents outside the repository are cited:\n" + "\n".join(hits)


def test_claims_block_is_delimited() -> None:
    text = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    begin, end = text.find("<!-- claims:begin -->"), text.find("<!-- claims:end -->")
    assert 0 <= begin < end


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text(
        "# Guide\n\n## Weak-form Madelung fit\n\n## 3. Numbered part\n\n"
        "```\n## not a heading\n```\n\n## Repeat\n\n## Repeat\n",
        encoding="utf-8",
    )
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("", encoding="utf-8")
    return tmp_path


def test_checker_accepts_good_references(tiny_repo: Path) -> None:
    where = tiny_repo / "pkg" / "mod.py"
    text = (
        "see docs/guide.md, docs/guide.md#weak-form-madelung-fit, docs/guide.md section 3, "
        "docs/guide.md#repeat-1, the run's summary.md, pkg/mod.py; a link [guide](../docs/guide.md)"
    )
    assert bad_references(text, where, tiny_repo) == []
    # from inside docs/, a bare name is relative to the page
    assert bad_references("[g](guide.md#repeat)", tiny_repo / "docs" / "x.md", tiny_repo) == []


@pytest.mark.parametrize(
    "text",
    [
        "docs/nowhere.md",
        "docs/guide.md#no-such-heading",
        "docs/guide.md#not-a-heading",  # inside a code fence
        "docs/guide.md#repeat-2",
        "docs/guide.md section 4",
        "guide.md",  # not relative to pkg/ or to the root
        "../outside.md",
        "pkg/missing.py",
        "docs/gone.ipynb",
    ],
)
def test_checker_flags_bad_references(tiny_repo: Path, text: str) -> None:
    (tiny_repo.parent / "outside.md").write_text("# Outside\n", encoding="utf-8")
    assert len(bad_references(f"x ({text}) y", tiny_repo / "pkg" / "mod.py", tiny_repo)) == 1


def test_checker_without_sources_checks_markdown_only(tiny_repo: Path) -> None:
    where = tiny_repo / "pkg" / "test_x.py"
    text = "fixture pkg/missing.py, reference docs/nowhere.md"
    found = bad_references(text, where, tiny_repo, sources=False)
    assert found == ["docs/nowhere.md: no such file"]


def test_team_names_are_flagged_and_own_docs_are_not() -> None:
    cited = " ".join(n.upper() + ".md 2.4" for n in _NOTES) + " " + _NOTES[2].upper() + " 6"
    cited += " " + _NOTES_MD[0].upper() + ".md " + "/".join(("..", "shared", "x"))
    assert len(team_names(cited)) == len(_NOTES) + 3
    assert team_names("docs/physics.md#learning-system, docs/methods.md, README.md") == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Kramers-Moyal drift and diffusion", "kramers-moyal-drift-and-diffusion"),
        ("Wave function and consistency condition", "wave-function-and-consistency-condition"),
        ("Schrödinger (adaptive): `hbar` routes", "schrödinger-adaptive-hbar-routes"),
        ("3. Numbered part", "3-numbered-part"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor
