"""The committed claims tables are the generator's output; a tampered table fails the check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analysis.verdicts import Claim
from dualsim import claims_table
from dualsim.claims_table import BEGIN, END, TARGETS, main, render, replace_block, stale, table
from runner import UsageError
from scenarios import CATALOGUE, load

ROOT = Path(__file__).resolve().parents[2]


def _block(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


@pytest.mark.parametrize("target", TARGETS)
def test_committed_table_is_the_generated_one(target: str) -> None:
    assert _block((ROOT / target).read_text(encoding="utf-8")) == render()


def test_table_has_one_row_per_declared_claim_in_catalogue_order() -> None:
    rows = render().splitlines()[2:]
    declared = claims_table.declared_claims()
    order = list(CATALOGUE)
    assert [order.index(c.scenario) for c in declared] == sorted(
        order.index(c.scenario) for c in declared
    )
    assert [c for c in declared if c.scenario == "transition"] == list(load("transition").CLAIMS)
    for row, claim in zip(rows, declared, strict=True):
        assert row.startswith(f"| {claim.name} | `{claim.scenario}` |")
        assert f"| {claim.sense} {claim.threshold:g} |" in row


@pytest.fixture
def copy_root(tmp_path: Path) -> Path:
    for target in TARGETS:
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / target, tmp_path / target)
    return tmp_path


def test_check_fails_on_a_tampered_table_and_write_repairs_it(copy_root, capsys) -> None:
    assert main(["--check", "--root", str(copy_root)]) == 0
    readme = copy_root / "README.md"
    text = readme.read_text(encoding="utf-8")
    tampered = text.replace("| < 0.15 |", "| < 0.2 |", 1)
    assert tampered != text
    readme.write_text(tampered, encoding="utf-8")
    assert stale(copy_root) == ["README.md"]
    assert main(["--check", "--root", str(copy_root)]) == 1
    assert "README.md: claims table is stale" in capsys.readouterr().out
    assert main(["--write", "--root", str(copy_root)]) == 0
    assert readme.read_text(encoding="utf-8") == text
    assert stale(copy_root) == []


def test_text_outside_the_markers_is_kept_and_markers_are_required() -> None:
    text = f"# intro\n\n{BEGIN}\nold\n{END}\n\nmore\n"
    assert replace_block(text, "new") == f"# intro\n\n{BEGIN}\nnew\n{END}\n\nmore\n"
    for bad in ("no markers", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{BEGIN}\n{END}\n"):
        with pytest.raises(UsageError, match="claims:begin"):
            replace_block(bad, "new", "README.md")


def test_cells_are_escaped_for_markdown() -> None:
    claim = Claim("a|b", "|x| of <q>\nover  steps", 0.5, ">", "c|d", "", "demo")
    row = table([claim]).splitlines()[2]
    assert row == r"| a\|b | `demo` | \|x\| of \<q> over steps | > 0.5 | c\|d | none |"
