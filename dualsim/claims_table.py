"""The claims table of the README and the docs, generated from the scenarios' declarations.

Every scenario with claims declares them once, as data (``CLAIMS``, a tuple of
:class:`analysis.verdicts.Claim`); this module renders them, in the order of
:data:`scenarios.CATALOGUE`, as one markdown table (claim, scenario, statistic, threshold, null
control, positive control) and keeps the copies of that table in :data:`TARGETS` -- the text
between the markers :data:`BEGIN` and :data:`END` -- equal to it::

    python -m dualsim.claims_table            # print the table
    python -m dualsim.claims_table --check    # exit 1 when a committed table is stale
    python -m dualsim.claims_table --write    # rewrite the tables between the markers

The threshold column reads as the ``threshold`` column of ``verdicts.csv``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from analysis.verdicts import Claim
from runner import UsageError, atomic_write
from scenarios import CATALOGUE, load

__all__ = [
    "BEGIN",
    "COLUMNS",
    "END",
    "TARGETS",
    "declared_claims",
    "main",
    "render",
    "replace_block",
    "stale",
    "table",
    "write",
]

BEGIN = "<!-- claims:begin -->"
END = "<!-- claims:end -->"
TARGETS = ("README.md", "docs/claims.md")
COLUMNS = ("claim", "scenario", "statistic", "threshold", "null control", "positive control")
ROOT = Path(__file__).resolve().parents[1]
_TAG = re.compile(r"<(?=\S)")


def declared_claims() -> list[Claim]:
    """Every scenario's ``CLAIMS``, scenarios in catalogue order, claims in declaration order.

    Examples
    --------
    >>> claims = declared_claims()
    >>> claims[0].scenario, all(c.name for c in claims)
    ('transition', True)
    """
    out: list[Claim] = []
    for name in CATALOGUE:
        out.extend(getattr(load(name), "CLAIMS", ()))
    return out


def _cell(text: str) -> str:
    """Markdown table cell: one line, ``|`` and tag-like ``<`` escaped."""
    text = " ".join(str(text).split())
    return _TAG.sub(r"\\<", text.replace("\\", "\\\\").replace("|", "\\|"))


def table(claims: Iterable[Claim]) -> str:
    """The markdown table of ``claims`` (one row each; ``none`` for a missing positive control).

    Examples
    --------
    >>> c = Claim("entropy budget", "|closure| of <dS/dt>", 0.25, "<", "shuffled", "", "demo")
    >>> print(table([c]))
    | claim | scenario | statistic | threshold | null control | positive control |
    |---|---|---|---|---|---|
    | entropy budget | `demo` | \\|closure\\| of \\<dS/dt> | < 0.25 | shuffled | none |
    """
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for c in claims:
        cells = (
            _cell(c.name),
            f"`{c.scenario}`",
            _cell(c.statistic),
            f"{c.sense} {c.threshold:g}",
            _cell(c.control),
            _cell(c.positive_control) if c.positive_control else "none",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render() -> str:
    """The claims table of every declared claim (:func:`declared_claims`).

    Examples
    --------
    >>> render().splitlines()[0].startswith("| claim | scenario | statistic |")
    True
    """
    return table(declared_claims())


def replace_block(text: str, block: str, where: str = "text") -> str:
    """``text`` with the lines between :data:`BEGIN` and :data:`END` replaced by ``block``.

    Raises :class:`runner.UsageError` when the markers are missing, repeated or out of order.

    Examples
    --------
    >>> print(replace_block(f"intro\\n{BEGIN}\\nold\\n{END}\\nend\\n", "new"))
    intro
    <!-- claims:begin -->
    new
    <!-- claims:end -->
    end
    <BLANKLINE>
    """
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise UsageError(f"{where}: expected one {BEGIN} line followed by one {END} line")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def stale(root: Path = ROOT, block: str | None = None) -> list[str]:
    """The targets under ``root`` whose claims block differs from ``block`` (default
    :func:`render`).

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / "docs").mkdir()
    >>> for t in TARGETS:
    ...     _ = (root / t).write_text(f"{BEGIN}\\n| x |\\n{END}\\n")
    >>> stale(root, "| x |"), stale(root, "| y |")
    ([], ['README.md', 'docs/claims.md'])
    """
    block = render() if block is None else block
    out = []
    for target in TARGETS:
        text = (root / target).read_text(encoding="utf-8")
        if replace_block(text, block, target) != text:
            out.append(target)
    return out


def write(root: Path = ROOT, block: str | None = None) -> list[str]:
    """Rewrite the claims block of every stale target under ``root``; the targets rewritten.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / "docs").mkdir()
    >>> for t in TARGETS:
    ...     _ = (root / t).write_text(f"{BEGIN}\\nold\\n{END}\\n")
    >>> write(root, "| new |"), write(root, "| new |")
    (['README.md', 'docs/claims.md'], [])
    >>> (root / "README.md").read_text().splitlines()
    ['<!-- claims:begin -->', '| new |', '<!-- claims:end -->']
    """
    block = render() if block is None else block
    changed = stale(root, block)
    for target in changed:
        path = root / target
        new = replace_block(path.read_text(encoding="utf-8"), block, target)
        atomic_write(path, new.encode("utf-8"))
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table, or check (exit 1 when stale) or rewrite the committed copies.

    Examples
    --------
    >>> main(["--check"])
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m dualsim.claims_table", description=__doc__.splitlines()[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when a table is stale")
    mode.add_argument("--write", action="store_true", help="rewrite the tables")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository folder")
    args = parser.parse_args(argv)
    block = render()
    if args.check:
        old = stale(args.root, block)
        for target in old:
            print(f"{target}: claims table is stale; run python -m dualsim.claims_table --write")
        return 1 if old else 0
    if args.write:
        for target in write(args.root, block):
            print(f"{target}: claims table rewritten")
        return 0
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
