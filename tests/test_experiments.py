"""Every reproduction script in experiments/ runs at its CI size (``--quick``), asserts what
its figure shows (a failed claim exits non-zero), and saves its figure and its numbers."""

import json
import pathlib

import pytest

pytest.importorskip("torch")

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXPERIMENTS = sorted(p for p in (ROOT / "experiments").glob("*.py") if not p.name.startswith("_"))


def test_there_are_experiments():
    assert len(EXPERIMENTS) >= 3


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_reproduces_its_figure(path, tmp_path, run_script):
    done = run_script(path, tmp_path / "out", "--quick")
    picture = tmp_path / "out" / f"{path.stem}.png"
    table = tmp_path / "out" / f"{path.stem}.json"
    assert f"saved {picture}" in done.stdout and f"saved {table}" in done.stdout
    assert picture.stat().st_size > 20_000
    numbers = json.loads(table.read_text())
    assert isinstance(numbers, dict) and len(numbers) >= 2
