"""Uniform reshuffling's resummed value in closed form (:mod:`symsgd.diagrams._reshuffle`).

Ground truths, each independent of the decomposition over shared points and tied phases:

* the O(T) time sweep ``_sweep`` over every realization of the schedule (every order of
  the points in every epoch, exhaustively), term by term and summed;
* the exact rational polynomial ``Resummed.expr`` (its own enumeration);
* hand-derived expected row counts of two-edge terms, summed by brute force over times,
  at sizes whose orders cannot be enumerated (``50!`` per epoch);
* Monte Carlo of SGD with random reshuffling on quadratic landscapes with Gaussian noise,
  where the order-2 resummed form is exact.

Tolerances.  The sweep adds positive products; the closed form adds the same sums split by
signed Moebius weights, but without cancellation: the sum with the signs removed is within
1.001 of the signed one (measured by a review, up to ``N = 10^6, B = 1000``), so both are
accurate to a few ulps and agree entry by entry to 1e-12 (three orders of magnitude of
room); summed values to 1e-12 of the sum of the terms' magnitudes, as in
``test_resum_closed``.  Monte Carlo: within 4 standard errors.
"""

import itertools

import numpy as np
import pytest

from symsgd import resummed_loss, simulate
from symsgd.diagrams._reshuffle import Reshuffled, reshuffle_walk
from symsgd.diagrams._transfer import transfer, walk
from symsgd.diagrams.resum import _memberships, rvalue_terms
from symsgd.errors import ScheduleError, StabilityError
from symsgd.schedule import sgd

from test_resum_closed import (MEASURES, _terms_against_the_sweep, at, build, close, landscape,
                               swept)

ETA = np.array([0.01, 0.1, 0.3])


def _space(schedule):
    N, B = schedule.N, schedule.batch
    return Reshuffled(schedule.epochs, N // B, B, N)


# -- 1. every term against the sweep over all orders of the points ---------------------------

@pytest.mark.parametrize("discrete", [True, False], ids=["discrete", "exponential"])
@pytest.mark.parametrize("schedule, order, measures", [
    (sgd(3, epochs=2, reshuffle="random"), 4, ("test", "gap")),
    (sgd(2, epochs=3, reshuffle="random"), 4, ("weights",)),
    (sgd(4, batch=2, epochs=3, reshuffle="random"), 3, MEASURES),
    (sgd(4, epochs=2, reshuffle="random"), 3, MEASURES),
    (sgd(6, batch=2, epochs=2, reshuffle="random"), 3, ("test", "train")),
], ids=str)
def test_each_term_equals_its_sweep_over_every_order_entry_by_entry(schedule, order, measures,
                                                                    discrete):
    """Every term of the measures, at every tuple of eigenvalues 0, 1/2, 2 (``K`` all ones):
    relative 1e-12 entry by entry (see the module docstring); terms without embeddings are
    zero on both sides."""
    assert _terms_against_the_sweep(schedule, _space(schedule), discrete, order, measures) > 20


# -- 2. whole values against the sweep (the exact polynomial: test_resum_closed) ------------

@pytest.mark.parametrize("schedule", [sgd(3, epochs=2, reshuffle="random"),
                                      sgd(4, batch=2, epochs=3, reshuffle="random")], ids=str)
@pytest.mark.parametrize("name", ["helix", "gauss", "shifting_valleys", "quadratic_2d"])
def test_resummed_values_equal_the_sweep(name, schedule):
    for propagator in ("discrete", "exponential"):
        for measure in MEASURES:
            r = build(schedule, 3, name, measure, propagator)
            value, scale = swept(r, ETA)
            assert np.all(np.abs(r(ETA) - value) <= 1e-12 * scale), (propagator, measure)


# -- 3. hand-derived row counts at sizes beyond enumeration -----------------------------------

def _brute(term, epochs, steps, batch, points, stay, end):
    """A two-edge term summed over all time pairs, each weighted by its expected row count
    derived by hand: two single-node blocks count ``B`` points each, always (``B^2``); one
    block holding both nodes counts ``B`` at one time, ``0`` at two phases of one epoch, and
    in two epochs ``N`` points each in both batches with probability ``(B / N)^2``
    (independent orders): ``B^2 / N``."""
    T = epochs * steps
    total = np.zeros(stay.shape[:-1])
    parents = term.parents
    for t1, t2 in itertools.product(range(T), repeat=2):
        if term.rows[0] != term.rows[1]:
            weight = batch ** 2
        elif t1 == t2:
            weight = batch
        elif t1 // steps == t2 // steps:
            weight = 0
        else:
            weight = batch ** 2 / points
        times = (t1, t2)
        product = np.ones(stay.shape[:-1])
        for v, p in enumerate(parents):
            top = T if not p else times[p - 1]              # the root, or a loose end
            if times[v] >= top:
                product = 0.0
                break
            product = product * stay[..., v] ** (top - times[v] - 1) * end[..., v]
        total = total + weight * product
    return total


@pytest.mark.parametrize("discrete", [True, False], ids=["discrete", "exponential"])
@pytest.mark.parametrize("epochs, batch, points", [(3, 1, 50), (4, 2, 30)])
def test_two_edge_terms_at_sizes_beyond_enumeration(epochs, batch, points, discrete):
    """``50!^2`` orders: no sweep could enumerate them; the hand-derived counts can."""
    rng = np.random.default_rng(3)
    rates = rng.uniform(0.0, 0.2, size=(2, 2))
    stay, end = (1.0 - rates, np.ones_like(rates)) if discrete else (np.exp(-rates),) * 2
    checked = 0
    for measure in ("test", "weights"):
        for term in rvalue_terms(2, measure, batch, points):
            if term.order != 2:
                continue
            value = reshuffle_walk(term, epochs, points // batch, batch, points, stay=stay,
                                   end=end)
            expected = _brute(term, epochs, points // batch, batch, points, stay, end)
            np.testing.assert_allclose(value, expected, rtol=1e-12)
            checked += 1
    assert checked == 4          # *(a, a), *(a, b), *(a(a)) and the displacement's *(a(a))


def test_one_epoch_is_single_epoch_sgd():
    """With one epoch the reshuffled walk is the single-epoch walk (blocks tied to one step,
    ``B`` rows each), for every term to order 4, ``M = 1000`` steps."""
    rng = np.random.default_rng(4)
    for measure in ("test", "train", "weights"):
        for term in rvalue_terms(4, measure, 3, 3000):
            d = term.order
            if d == 0:
                continue
            stay = rng.uniform(0.9, 1.0, size=(2, d))
            W = transfer(term, True, stay, np.ones_like(stay))
            expected = 0.0 if W is None else walk(W, 1000) * 3.0 ** (max(term.rows) + 1)
            value = reshuffle_walk(term, 1, 1000, 3, 3000, stay=stay, end=np.ones_like(stay))
            np.testing.assert_allclose(value, expected, rtol=1e-12, atol=0)


# -- 4. Monte Carlo ----------------------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("name", ["mean_estimation", "quadratic_2d"])
def test_monte_carlo_of_reshuffled_sgd(name, batch):
    """Quadratic losses with Gaussian noise: the order-2 resummed value is exact.  40000 runs
    of SGD with random reshuffling (N = 20, 5 epochs) agree within 4 standard errors, and
    tell it from the fixed order: at one rate or measure at least, the fixed order's value
    lies more than 5 standard errors away (seen: 6.5 to 9)."""
    L = landscape(name)
    schedule = sgd(20, batch=batch, epochs=5, reshuffle="random")
    lr = [0.05, 0.2]
    sim = simulate(schedule, landscape=L, lr=lr, trials=40000, seed=11, progress=False)
    told = 0
    for measure, mean, sem in (("test", sim.test_loss, sim.test_loss_sem),
                               ("train", sim.train_loss, sim.train_loss_sem)):
        predicted = resummed_loss(schedule, 2, landscape=L, measure=measure)(lr)
        fixed = resummed_loss(sgd(20, batch=batch, epochs=5), 2, landscape=L,
                              measure=measure)(lr)
        z = (predicted - mean[:, -1]) / sem[:, -1]
        assert np.all(np.abs(z) < 4), (measure, z)
        told += np.sum(np.abs(fixed - mean[:, -1]) > 5 * sem[:, -1])
    assert told >= 1


# -- 5. reach, integral form, errors -------------------------------------------------------------

def test_large_reshuffled_schedules_evaluate_in_closed_form():
    """Far beyond ``MAX_REALIZATIONS`` (which the sweep needs): ``T = 10^6``; the value is
    finite and agrees with ``T = 10^4`` where the initial transient has died out."""
    L = landscape("mean_estimation")
    small = resummed_loss(sgd(1000, epochs=10, reshuffle="random"), 3, landscape=L)
    large = resummed_loss(sgd(10000, epochs=100, reshuffle="random"), 3, landscape=L)
    with pytest.raises(ScheduleError, match="MAX_REALIZATIONS"):
        _memberships(small.schedule)
    a, b = small([0.01, 0.1]), large([0.01, 0.1])
    assert np.all(np.isfinite(b))
    close(a, b, 1e-3)


def test_integral_form_approaches_the_discrete_form():
    """Continuous phases over two reshuffled epochs, eta T = 1: the relative difference from
    the discrete form falls like eta (fitted slope 1, as with a fixed order)."""
    from test_diagrams_integrals import _slope, three_parameters
    for measure in ("test", "weights"):
        slope, ratio = _slope(lambda T: sgd(T // 2, epochs=2, reshuffle="random"), measure,
                              three_parameters(), sizes=(100, 200, 400))
        assert 0.95 < slope < 1.15, measure
        assert abs(ratio[2] - ratio[1]) < 0.7 * abs(ratio[1] - ratio[0])


def test_an_inconsistent_space_time_is_refused():
    with pytest.raises(ScheduleError, match="inconsistent"):
        Reshuffled(2, 3, 2, 5)


# -- 6. T -> infinity over epochs (fixed order and uniform reshuffling) --------------------------

def _epoch_fixed_point(eta, N, batch, reshuffle):
    """MEAN ESTIMATION (``l_x = theta^2/2 + theta x``, ``x`` standard normal): the test loss
    ``E theta^2 / 2`` where the epochs' map settles, derived by hand.  Over an epoch ``theta
    <- q^M theta - (eta/B) sum_j q^(M-1-j) sum_(n in batch j) x_n`` (``q = 1 - eta``, ``M =
    N/B``); unrolled over the epochs ``e`` back from the end, ``E theta^2`` sums ``q^(M(e +
    e'))`` times the batches' expected overlaps: ``B`` for the same batch, none for two
    batches of one epoch, and across epochs ``B`` at the same phase (fixed order) or
    ``B^2/N`` at any phases (independent orders)."""
    q, M = 1.0 - eta, N // batch
    same = (1 - q ** (2 * M)) / (1 - q ** 2)                   # sum_j q^(2j)
    spread = ((1 - q ** M) / (1 - q)) ** 2                     # (sum_j q^j)^2
    diagonal = 1 / (1 - q ** (2 * M))                          # sum_e q^(2 M e)
    off = 1 / (1 - q ** M) ** 2 - diagonal                     # sum_(e != e') q^(M (e + e'))
    across = batch ** 2 / N * spread if reshuffle == "random" else batch * same
    return (eta / batch) ** 2 * (diagonal * batch * same + off * across) / 2


@pytest.mark.parametrize("reshuffle", ["fixed", "random"])
@pytest.mark.parametrize("N, batch", [(5, 1), (6, 2), (12, 3), (10**4, 100)])
def test_limit_over_epochs_is_the_epoch_maps_fixed_point(N, batch, reshuffle):
    """The order-2 resummed form is exact here; its limit as the epochs grow is the
    hand-derived stationary loss to 1e-12 (sums of positive terms: well conditioned).  At
    ``N = 10^4`` (orders no enumeration reaches) the cross-epoch overlap moves the loss by
    4% at ``eta = 0.01`` (``q^M = 0.37``); the diagrams' sum cancels a little there (seen
    2e-11), so 1e-10.  The two orders' limits differ by more than 1e-3 somewhere."""
    r = resummed_loss(sgd(N, batch=batch, epochs=2, reshuffle=reshuffle), 2,
                      landscape=landscape("mean_estimation"))
    rates = np.array([0.001, 0.01, 0.1, 0.5, 1.2])
    expected = np.array([_epoch_fixed_point(eta, N, batch, reshuffle) for eta in rates])
    np.testing.assert_allclose(r.limit(rates), expected, rtol=1e-12 if N < 100 else 1e-10)
    other = "fixed" if reshuffle == "random" else "random"
    apart = [_epoch_fixed_point(eta, N, batch, other) for eta in rates] / expected - 1
    assert np.max(np.abs(apart)) > 1e-3


@pytest.mark.parametrize("reshuffle", ["fixed", "random"])
@pytest.mark.parametrize("batch", [1, 2])
def test_asymptote_over_epochs_is_the_value_after_many_epochs(batch, reshuffle):
    """HELIX drifts along its valley: the polynomial in ``T`` (through ``T = E M``) equals
    the closed form at ``E = 10^4`` and ``2 10^4`` epochs, every measure, both propagators."""
    for propagator in ("discrete", "exponential"):
        for measure in MEASURES:
            make = lambda E: build(sgd(4, batch=batch, epochs=E, reshuffle=reshuffle),  # noqa
                                   3, "helix", measure, propagator)
            coefficients = make(2).asymptote(ETA)
            for E in (10**4, 2 * 10**4):
                T = E * 4 // batch
                close(at(coefficients, T, measure == "weights"), make(E)(ETA), 1e-9)


def test_training_loss_over_epochs_has_a_limit():
    """Unlike single-epoch SGD, more epochs keep the training set: the training loss and the
    gap settle (at the value after 10^5 epochs)."""
    for measure in ("train", "gap"):
        for reshuffle in ("fixed", "random"):
            r = build(sgd(3, epochs=2, reshuffle=reshuffle), 3, "quadratic_2d", measure)
            late = build(sgd(3, epochs=10**5, reshuffle=reshuffle), 3, "quadratic_2d", measure)
            close(r.limit(ETA), late(ETA), 1e-9)


def test_no_asymptote_for_seeded_orders_or_unstable_rates():
    L = landscape("mean_estimation")
    with pytest.raises(ScheduleError, match="arbitrary batches"):
        resummed_loss(sgd(4, epochs=2, reshuffle=3), 2, landscape=L).limit(0.1)
    with pytest.raises(StabilityError, match="2 / lambda_max"):
        resummed_loss(sgd(4, epochs=2, reshuffle="random"), 2, landscape=L).limit(2.5)
