"""The zoo: landscapes from the source papers, built with exact statistics.

Each constructor documents its source.  The expected (test) losses shown in
the examples are computed by the landscape from its loss and data law, never
copied from a paper: the short note on perturbative analysis misstates the
Valley of Death's.

>>> valley_of_death().test_loss
6*A**2*B**2 + A + B**4
>>> shifting_valleys().test_loss
A + B**2
"""

from __future__ import annotations

import sympy
from sympy.stats import Normal

from ._sympify import exact, refuse_text
from .distributions import RandomVariables
from .errors import InputTypeError, LandscapeError
from .landscape import Landscape

__all__ = ["gauss", "helix", "mean_estimation", "shifting_valleys", "valley_of_death",
           "linear_regression"]


def gauss() -> Landscape:
    """GAUSS (Tenka, C.1.1): fit ``N(0, sigma^2)`` to standard normal data, ``h = log sigma^2``.

    ``l_x(h) = (h + x^2 exp(-h)) / 2``, initialized at the test minimum ``h = 0``.
    The gradient noise is an affine chi-squared, so it is skewed.

    >>> L = gauss()
    >>> L.test_loss
    h/2 + exp(-h)/2
    >>> L.G, L.H, L.C, L.S
    ([0], [[1/2]], [[1/2]], [[[-1]]])
    """
    h, x = sympy.symbols("h x", real=True)
    return Landscape((h + x**2 * sympy.exp(-h)) / 2, (h,), (x,), (0,), name="GAUSS")


def helix() -> Landscape:
    """HELIX (Tenka, C.1.2): a chiral valley of minima ``u = v = 0`` along ``z``.

    ``l_x = H(theta)/2 + x S(theta)`` with
    ``H = u^2 + v^2 + (cos(z) u + sin(z) v)^2`` and
    ``S = cos(z - pi/4) u + sin(z - pi/4) v``, ``x`` standard normal,
    initialized at the origin.  SGD drifts along ``+z`` (about ``eta^2/6`` per step).

    >>> L = helix()
    >>> L.G
    [0, 0, 0]
    >>> L.H
    [[2, 0, 0], [0, 1, 0], [0, 0, 0]]
    """
    u, v, z, x = sympy.symbols("u v z x", real=True)
    hess = u**2 + v**2 + (sympy.cos(z) * u + sympy.sin(z) * v)**2
    noise = sympy.cos(z - sympy.pi / 4) * u + sympy.sin(z - sympy.pi / 4) * v
    return Landscape(hess / 2 + x * noise, (u, v, z), (x,), (0, 0, 0), name="HELIX")


def mean_estimation(*, hessian=1, noise=1, l2: bool = False, init=0) -> Landscape:
    """MEAN ESTIMATION (Tenka, C.1.3): ``l_x(theta) = H theta^2 / 2 + x S theta``.

    Args:
        hessian: the curvature ``H`` (an exact number or a SymPy expression).
        noise: ``S``, the square root of the gradient covariance ``C = S^2``.
        l2: add the l2 coefficient ``lambda`` as a second parameter
            (``(H + lambda) theta^2 / 2``, initialized at ``lambda = 0``).
        init: the initial ``theta``.

    Raises:
        InputTypeError: a string (never parsed), a float or another
            non-SymPy value for ``hessian``, ``noise`` or ``init``; ``l2`` not a bool.

    >>> H, S = sympy.symbols('H S', positive=True)
    >>> L = mean_estimation(hessian=H, noise=S, init=1)
    >>> L.test_loss, L.G, L.C
    (H*theta**2/2, [H], [[S**2]])
    >>> mean_estimation(l2=True).params
    (theta, lambda)
    """
    if not isinstance(l2, bool):
        raise InputTypeError(f"l2 must be True or False, got {l2!r}")
    theta, lam, x = sympy.symbols("theta lambda x", real=True)
    hessian, noise = exact(hessian, "hessian"), exact(noise, "noise")
    if not l2:
        return Landscape(hessian * theta**2 / 2 + x * noise * theta, (theta,), (x,), (init,),
                         name="MEAN ESTIMATION")
    return Landscape((hessian + lam) * theta**2 / 2 + x * noise * theta, (theta, lam), (x,),
                     (init, 0), name="MEAN ESTIMATION (l2)")


def shifting_valleys(*, init=(1, 1)) -> Landscape:
    """Shifting Valleys (perturbative-analysis note, 2.0): ``A + (B - A x)^2 - A^2``.

    Standard normal ``x``.

    Args:
        init: the initial ``(A, B)`` (the note's ``(1, 1)`` by default).

    Raises:
        LandscapeError: ``init`` without two entries.
        InputTypeError: a string (never parsed), a float or another non-SymPy entry.

    >>> shifting_valleys().G
    [1, 2]
    >>> shifting_valleys(init=(2, sympy.Rational(1, 2))).C
    [[33, 4], [4, 16]]
    """
    A, B, x = sympy.symbols("A B x", real=True)
    return Landscape(A + (B - A * x)**2 - A**2, (A, B), (x,), _pair(init),
                     name="Shifting Valleys")


def valley_of_death(*, init=(1, 1)) -> Landscape:
    """Valley of Death (perturbative-analysis note, 2.1): ``A + (B - A x)^4 - 3 A^4``.

    Standard normal ``x``.  Its expected loss is ``A + 6 A^2 B^2 + B^4`` (the note
    prints ``2 A^2 B^2``: an erratum).

    Args:
        init: the initial ``(A, B)`` (the note's ``(1, 1)`` by default).

    Raises:
        LandscapeError: ``init`` without two entries.
        InputTypeError: a string (never parsed), a float or another non-SymPy entry.

    >>> valley_of_death().G
    [13, 16]
    >>> valley_of_death(init=(0, 1)).G
    [1, 4]
    """
    A, B, x = sympy.symbols("A B x", real=True)
    return Landscape(A + (B - A * x)**4 - 3 * A**4, (A, B), (x,), _pair(init),
                     name="Valley of Death")


def _pair(init) -> tuple:
    """The note's initial ``(A, B)``: two exact numbers."""
    entries = _entries(init, "init")
    if len(entries) != 2:
        raise LandscapeError(f"init needs the two entries (A, B), got {len(entries)}")
    return tuple(exact(v, f"init[{i}]") for i, v in enumerate(entries))


def linear_regression(*, dim: int = 2, noise=1, true_weights=None, init=None) -> Landscape:
    """Least squares ``(y - w . x)^2 / 2`` with ``y = w_true . x + noise * eps``.

    ``x`` has i.i.d. standard normal coordinates and ``eps`` is an independent
    standard normal.

    Args:
        dim: the number of weights.
        noise: the label-noise scale (an exact number or a SymPy expression).
        true_weights: ``w_true`` (default all ones), one exact entry per weight.
        init: the initial weights (default all zeros).

    Raises:
        LandscapeError: ``dim`` not a positive integer, or ``true_weights`` /
            ``init`` without one entry per weight.
        InputTypeError: a string (never parsed), a float or another non-SymPy
            value among ``noise``, ``true_weights`` and ``init``.

    >>> L = linear_regression(dim=2, noise=sympy.Rational(1, 2))
    >>> L.test_loss
    w0**2/2 - w0 + w1**2/2 - w1 + 9/8
    >>> L.H
    [[1, 0], [0, 1]]
    """
    refuse_text(dim, "dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise LandscapeError(f"dim must be a positive integer, got {dim!r}")
    w = sympy.symbols(f"w0:{dim}", real=True)
    xs = sympy.symbols(f"x0:{dim}", real=True)
    y = sympy.Symbol("y", real=True)
    true_weights = [1] * dim if true_weights is None else _entries(true_weights, "true_weights")
    init = [0] * dim if init is None else _entries(init, "init")
    if len(true_weights) != dim or len(init) != dim:
        raise LandscapeError("true_weights and init need one entry per weight")
    true_weights = [exact(t, f"true_weights[{i}]") for i, t in enumerate(true_weights)]
    noise = exact(noise, "noise")
    X = [Normal(f"X{i}", 0, 1) for i in range(dim)]
    eps = Normal("epsilon", 0, 1)
    law = {xi: Xi for xi, Xi in zip(xs, X)}
    law[y] = sum(t * Xi for t, Xi in zip(true_weights, X)) + noise * eps
    loss = (y - sum(wi * xi for wi, xi in zip(w, xs)))**2 / 2
    return Landscape(loss, w, xs + (y,), init, distribution=RandomVariables(law),
                     name="linear regression")


def _entries(value, what: str) -> list:
    """A sequence argument as a list; strings and non-sequences are refused."""
    refuse_text(value, what)
    try:
        return list(value)
    except TypeError:
        raise InputTypeError(f"{what} must be a sequence, got {type(value).__name__}") from None
