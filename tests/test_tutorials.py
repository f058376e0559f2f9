"""Every tutorial runs to the end (its own checks included); the command line: test_cli.py."""

import pathlib

import pytest


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
