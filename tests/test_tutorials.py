"""Every tutorial and the command-line demo run to the end (their own checks included)."""

import dataclasses
import pathlib

import pytest

from symsgd import simulate
from symsgd.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "tutorials").glob("*.py"))


def test_there_are_tutorials():
    assert TUTORIALS


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path, run_script):
    done = run_script(path, SYMSGD_OUT=str(tmp_path))
    assert done.stdout.strip()
    pictures = list(tmp_path.glob("*.png"))
    if "savefig" in path.read_text():          # a tutorial that draws leaves its figures there
        assert pictures, f"{path.name} saved no figure in SYMSGD_OUT"
    for picture in pictures:
        assert picture.stat().st_size > 10_000


def test_demo_passes_and_saves_a_plot(tmp_path, capsys):
    picture = tmp_path / "demo.png"
    assert main(["demo", "--trials", "20000", "--plot", str(picture)]) == 0
    out = capsys.readouterr().out
    assert "routes exact, direct, diagrams agree exactly" in out
    assert picture.stat().st_size > 1000


def test_demo_reports_a_simulation_that_misses_the_series(monkeypatch, capsys):
    """Shift the simulated means by 10 standard errors: the demo's check must fail."""
    import symsgd.cli

    def shifted(*args, **kwargs):
        sim = simulate(*args, **kwargs)
        return dataclasses.replace(sim, test_loss=sim.test_loss + 10 * sim.test_loss_sem)

    monkeypatch.setattr(symsgd.cli, "simulate", shifted)
    assert main(["demo", "--order", "3", "--lr", "0.005", "--trials", "4000"]) == 1
    assert "CHECK FAILED" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--landscape", "nowhere"], "invalid choice"),
    (["--order", "-1"], "--order: must be an integer >= 0"),
    (["--trials", "1"], "--trials: must be an integer >= 2"),
    (["--lr", "0.01", "-0.1"], "--lr: must be a positive number"),
    (["--N", "4", "--batch", "3"], "batch = 3 does not divide N = 4"),
])
def test_demo_rejects_bad_arguments_before_any_work(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *args])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
