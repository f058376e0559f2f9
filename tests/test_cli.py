"""The ``symsgd`` command line: ``derive``, ``demo``, ``python -m symsgd``, errors."""

import dataclasses
import os
import pathlib
import re
import subprocess
import sys

import pytest
import sympy

import symsgd
import symsgd.cli
from symsgd import expected_displacement, expected_loss, gd, sgd, simulate
from symsgd.cli import main
from symsgd.errors import NonFiniteError, OrderError
from symsgd.landscapes import shifting_valleys

ROOT = pathlib.Path(__file__).resolve().parent.parent
N, B, E, T = sympy.symbols("N B E T", integer=True, positive=True)


def run(capsys, *argv):
    """``main(argv)``: its exit status, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(capsys, *argv):
    """``main(argv)`` must stop in argparse (status 2) with nothing on stdout: stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


# -- python -m symsgd ---------------------------------------------------------------

def test_python_dash_m_symsgd_runs_the_command():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    done = subprocess.run([sys.executable, "-m", "symsgd", "derive", "--order", "1",
                           "--batch", "1", "--epochs", "1"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "E[l(theta_T)] = l - N*eta*[G G] + O(eta**2)" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "symsgd", "derive", "--order", "x"],
                         capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and "usage: symsgd derive" in bad.stderr


# -- symsgd derive ------------------------------------------------------------------

def test_derive_first_order_is_minus_T_G_G(capsys):
    """To first order every schedule gives ``l - T eta [G G]`` (T steps of gradient descent)."""
    code, out, _ = run(capsys, "derive", "--order", "1")
    assert code == 0
    assert "E[l(theta_T)] = l - E*N*eta*[G G]/B + O(eta**2)" in out
    code, out, _ = run(capsys, "derive", "--schedule", "gd", "--N", "10", "--steps", "5",
                       "--order", "1")
    assert code == 0 and "E[l(theta_T)] = l - 5*eta*[G G] + O(eta**2)" in out


@pytest.mark.parametrize("argv, schedule, options", [
    ([], sgd(N, batch=B, epochs=E), {}),
    (["--N", "6", "--batch", "2", "--epochs", "2"], sgd(6, batch=2, epochs=2), {}),
    (["--reshuffle", "random", "--N", "4", "--batch", "2", "--epochs", "2"],
     sgd(4, batch=2, epochs=2, reshuffle="random"), {}),
    (["--schedule", "gd"], gd(N, steps=T), {}),
    (["--measure", "gap", "--method", "diagrams"], sgd(N, batch=B, epochs=E),
     {"measure": "gap", "method": "diagrams"}),
    (["--measure", "train", "--batch", "1"], sgd(N, epochs=E), {"measure": "train"}),
    (["--moment", "2", "--epochs", "1"], sgd(N, batch=B), {"moment": 2}),
])
def test_derive_prints_the_librarys_series(capsys, argv, schedule, options):
    options = {"method": "direct", **options}
    series = expected_loss(schedule, 2, **options)
    code, out, _ = run(capsys, "derive", "--order", "2", *argv)
    assert code == 0
    assert f" = {series}".split("\n")[0] in out
    code, out, _ = run(capsys, "derive", "--order", "2", "--latex", *argv)
    assert code == 0 and f" = {sympy.latex(series)}" in out


def test_derive_weights(capsys):
    series = expected_displacement(sgd(N, batch=B), 2, method="direct")
    code, out, _ = run(capsys, "derive", "--order", "2", "--measure", "weights", "--epochs", "1")
    assert code == 0 and f"E[theta_T - theta_0] = {series}" in out


def test_derive_collect_groups_by_contraction(capsys):
    """Single-epoch SGD with batch 1 to order 2: the known N(2N - 1)/2 [G H G] + N/2 C:H."""
    code, out, _ = run(capsys, "derive", "--order", "2", "--batch", "1", "--epochs", "1",
                       "--collect")
    assert code == 0
    lines = out.splitlines()
    c2 = lines[lines.index("c_2 =") + 1:]
    assert c2 == ["    [G H G]:  N*(2*N - 1)/2", "    C:H:  N/2"]
    assert lines[lines.index("c_1 =") + 1] == "    [G G]:  -N"


@pytest.mark.parametrize("options", [{}, {"moment": 2}])
def test_collected_groups_sum_back_to_the_coefficients(options):
    """Each monomial appears once, and the groups add up to the coefficient."""
    series = expected_loss(sgd(N, batch=B, epochs=E), 3, method="direct", **options)
    atoms = series.contractions()
    for coefficient in series.coefficients:
        groups = symsgd.cli._grouped(coefficient, atoms)
        monomials = [m for m, _ in groups]
        assert len(set(monomials)) == len(monomials)
        assert all(not c.has(*atoms) for _, c in groups)
        assert sympy.expand(sum(m * c for m, c in groups) - coefficient) == 0


def test_derive_collect_latex(capsys):
    code, out, _ = run(capsys, "derive", "--order", "2", "--batch", "1", "--epochs", "1",
                       "--collect", "--latex")
    assert code == 0
    assert r"\mathbb{E}[l(\theta_T)] = l - N \eta G_{a} G_{a} + \eta^{2}" in out
    assert "+ -" not in out and r"O\left(\eta^{3}\right)" in out


def test_derive_help_explains_notation_and_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["derive", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for text in ("--schedule {sgd,gd}", "--measure {test,train,gap,weights}", "notation:",
                 "[G H G] = G_a H_ab G_b", "examples:", "symsgd derive --order 2"):
        assert text in out


@pytest.mark.parametrize("argv, message", [
    (["--schedule", "adam"], "invalid choice: 'adam'"),
    (["--order", "x"], "--order: invalid integer value: 'x'"),
    (["--order", "-1"], "--order: must be an integer >= 0"),
    (["--order", "2.5"], "--order: invalid integer value: '2.5'"),
    (["--method", "exact"], "invalid choice: 'exact'"),
    (["--measure", "quantity"], "invalid choice: 'quantity'"),
    (["--moment", "3"], "invalid choice: 3"),
    (["--N", "0"], "--N: must be an integer >= 1"),
    (["--N", "4", "--batch", "3"], "batch = 3 does not divide N = 4"),
    (["--steps", "3"], "--steps is for --schedule gd"),
    (["--schedule", "gd", "--batch", "2", "--epochs", "2"],
     "--batch, --epochs: for --schedule sgd"),
    (["--measure", "weights", "--moment", "2"], "--moment 2 needs a scalar measure"),
])
def test_derive_rejects_bad_arguments_before_any_work(capsys, monkeypatch, argv, message):
    def no_work(*args, **kwargs):
        raise AssertionError("derive did work before validating its arguments")

    monkeypatch.setattr(symsgd.cli, "expected_loss", no_work)
    monkeypatch.setattr(symsgd.cli, "expected_displacement", no_work)
    err = refused(capsys, "derive", *argv)
    assert message in err and err.startswith("usage: symsgd derive")


@pytest.mark.parametrize("option", ["--N", "--batch", "--epochs", "--order", "--moment"])
def test_no_argument_is_evaluated(capsys, tmp_path, monkeypatch, option):
    monkeypatch.chdir(tmp_path)
    code = "__import__('pathlib').Path('pwned').touch() or 1"
    err = refused(capsys, "derive", option, code)
    assert "invalid" in err and not (tmp_path / "pwned").exists()


# -- errors -------------------------------------------------------------------------

def test_a_symsgd_error_is_one_line_on_stderr_not_a_traceback(capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise OrderError("order too high\nfor this machine")

    monkeypatch.setattr(symsgd.cli, "expected_loss", refuse)
    code, out, err = run(capsys, "derive", "--order", "3")
    assert code == 1 and out == ""
    assert err == "symsgd derive: error: order too high for this machine\n"


# -- symsgd demo --------------------------------------------------------------------

def test_demo_passes_states_its_criterion_and_saves_a_plot(tmp_path, capsys):
    picture = tmp_path / "demo.png"
    code, out, err = run(capsys, "demo", "--trials", "20000", "--plot", str(picture))
    assert code == 0, out
    assert "direct route and of the diagram rules at N = 4, B = 1, to order 4: agree exactly" in out
    assert "the exact engine (brute-force symbolic SGD) on sgd(N=4" in out
    assert "agrees exactly" in out and out.rstrip().endswith("all checks passed")
    c4 = expected_loss(sgd(4), 4, landscape=shifting_valleys(), method="exact").coeff(4)
    criterion = out.index("criterion")
    assert out.index("simulation:") > criterion
    assert f"the first neglected term (c_4 = {c4}, derived exactly at order 4)" in out
    assert "pass when |series - simulated| <= 3.29 SE (the 99.9% interval) + |c_4| eta^4" in out
    assert re.search(r"0\.005 +0\.02 .* ok\n", out)        # the default rates: eta*T = 0.02, ...
    assert "warning" not in err
    assert picture.stat().st_size > 1000


def test_demo_reports_a_simulation_that_misses_the_series(monkeypatch, capsys):
    """Shift the simulated means by 10 standard errors: the demo's check must fail."""
    def shifted(*args, **kwargs):
        sim = simulate(*args, **kwargs)
        return dataclasses.replace(sim, test_loss=sim.test_loss + 10 * sim.test_loss_sem)

    monkeypatch.setattr(symsgd.cli, "simulate", shifted)
    code, out, _ = run(capsys, "demo", "--order", "3", "--lr", "0.005", "--trials", "4000")
    assert code == 1
    assert "eta = 0.005 (eta*T = 0.02): FAILED: |series - simulated| = " in out
    assert "CHECK FAILED at 1 of 1 learning rates: eta = 0.005" in out


def test_demo_a_large_learning_rate_is_out_of_range_not_passed(capsys):
    """``--lr 0.5`` (eta*T = 2): the terms grow, so the series cannot be checked there."""
    code, out, err = run(capsys, "demo", "--lr", "0.5", "--trials", "2000")
    assert code == 1
    assert "all checks passed" not in out
    assert ("eta = 0.5 (eta*T = 2): out of range: the first neglected term |c_4| eta^4 = 122 "
            "is not smaller than the last kept one |c_3| eta^3 = 74") in out   # 1944/16, 592/8
    assert "warning: eta = 0.5, eta*T = 2: outside the range of the order-3 series" in err
    assert "CHECK FAILED at 1 of 1 learning rates: eta = 0.5" in out


def test_demo_valley_of_death_does_not_pass(capsys):
    """Its simulated losses reach 1e43 and more: the terms grow from the start."""
    code, out, err = run(capsys, "demo", "--landscape", "valley-of-death", "--trials", "2000")
    assert code == 1
    assert "all checks passed" not in out
    assert out.count("out of range") == 6 and err.count("warning") == 3
    assert "CHECK FAILED at 3 of 3 learning rates" in out


def test_demo_N20_rates_of_N4_pass_only_within_the_neglected_term(capsys):
    """``--N 20 --lr 0.005 0.01 0.02`` (z = 14 and 127 for the series alone): the
    truncation term accounts for the difference, and the verdict says so."""
    code, out, _ = run(capsys, "demo", "--N", "20", "--lr", "0.005", "0.01", "0.02",
                       "--trials", "4000")
    assert code == 0
    rows = [line for line in out.splitlines() if re.match(r" +0\.0[12] ", line)]
    assert len(rows) == 2 and all(r.endswith("ok, within the first neglected term") for r in rows)


def test_demo_default_rates_scale_with_T(capsys):
    code, out, _ = run(capsys, "demo", "--N", "8", "--trials", "4000", "--order", "2")
    assert code == 0
    for eta, eta_T in (("0.0025", "0.02"), ("0.005", "0.04"), ("0.01", "0.08")):
        assert re.search(rf"\n +{eta} +{eta_T} ", out)


def test_demo_large_N_is_bounded_drawn_capped_and_shows_progress(capsys):
    code, out, err = run(capsys, "demo", "--N", "1000", "--order", "2", "--trials", "200",
                         "--progress")
    assert code == 0, out
    grid = out[out.index("n\\t"):out.index("(drawing capped")].splitlines()
    assert len(grid) <= 1 + 16 + 1
    assert all(len(re.findall(r"[#.]", line.replace("...", ""))) <= 40 for line in grid[1:])
    assert grid[0].endswith(" ...")
    assert "(drawing capped: the first 16 of 1000 points and 40 of 1000 steps)" in out
    assert "the exact engine: skipped; the demo runs it for T <= 24 steps" in out
    assert "simulating" in err                              # tqdm, on stderr


def test_demo_refuses_a_simulation_above_its_memory_limit(capsys):
    err = refused(capsys, "demo", "--N", "1000", "--trials", "40000")
    assert "--trials 40000 times --N 1000 = 40,000,000 training points" in err
    assert "limit of 4,000,000; use --trials 4000 or fewer" in err


def test_demo_reports_a_diverged_simulation(monkeypatch, capsys):
    def diverge(*args, **kwargs):
        raise NonFiniteError("SGD diverged")

    monkeypatch.setattr(symsgd.cli, "simulate", diverge)
    code, out, _ = run(capsys, "demo", "--order", "2", "--lr", "0.005")
    assert code == 1
    assert "eta = 0.005 (eta*T = 0.02): the simulation diverged" in out


def test_demo_reports_an_unresolved_simulation(monkeypatch, capsys):
    """A huge standard error (heavy tails) must not make the check pass."""
    def heavy(*args, **kwargs):
        sim = simulate(*args, **kwargs)
        return dataclasses.replace(sim, test_loss_sem=sim.test_loss_sem * 1e6)

    monkeypatch.setattr(symsgd.cli, "simulate", heavy)
    code, out, _ = run(capsys, "demo", "--order", "2", "--lr", "0.005", "--trials", "2000")
    assert code == 1
    assert "eta = 0.005 (eta*T = 0.02): the simulation is unresolved" in out


@pytest.mark.parametrize("args, message", [
    (["--landscape", "nowhere"], "invalid choice"),
    (["--order", "-1"], "--order: must be an integer >= 0"),
    (["--trials", "1"], "--trials: must be an integer >= 2"),
    (["--lr", "0.01", "-0.1"], "--lr: must be a positive number"),
    (["--lr", "nan"], "--lr: must be a positive number"),
    (["--N", "4", "--batch", "3"], "batch = 3 does not divide N = 4"),
    (["--N", "100000", "--epochs", "2"], "200000 steps is above the demo's limit of 100,000"),
])
def test_demo_rejects_bad_arguments_before_any_work(args, message, capsys):
    err = refused(capsys, "demo", *args)
    assert message in err
