"""Every script in scripts/ runs (``--quick``) and saves non-trivial PNG plots where it is told."""

import pathlib

import matplotlib.image
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


def test_there_are_scripts():
    assert SCRIPTS


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_script_saves_plots(path, tmp_path, run_script):
    out = tmp_path / "plots"
    done = run_script(path, out, "--quick")
    pictures = sorted(out.glob("*.png"))
    assert pictures, f"{path.name} saved no PNG in {out}"
    for picture in pictures:
        assert str(picture) in done.stdout                 # the script says where it saved
        assert picture.stat().st_size > 20_000
        pixels = matplotlib.image.imread(picture)[..., :3]
        assert pixels.shape[0] > 300 and pixels.shape[1] > 600
        # empty axes are grey on white: the data must put colour on at least 0.3% of the pixels
        colored = pixels.max(axis=-1) - pixels.min(axis=-1) > 0.3
        assert colored.mean() > 0.003, f"{picture.name} shows (almost) no coloured curves"
