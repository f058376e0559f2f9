"""Real networks: torch models on finite populations, their statistics measured matrix-free.

Needs the ``nets`` extra (torch; scikit-learn for the bundled digits data):
``pip install 'symsgd[nets]'``.  ``import symsgd`` does not import this package.

* :class:`NetLandscape`: a model, a per-sample loss and a population (the data law);
* :func:`estimate`: every contraction atom of a series, matrix-free, with joint errors;
* :func:`predict`: a series' coefficients and loss curve with error bars (:class:`Prediction`);
* :func:`top_subspace`: the top Hessian eigenpairs (Lanczos on Hessian-vector products)
  and the gradient noise in their span, for :mod:`symsgd.lyapunov` and :mod:`symsgd.phase_space`;
* :func:`restrict`: the landscape on a subspace (e.g. the top one) with exact population
  statistics, for the resummed form and the Lyapunov and phase-space predictions;
* :func:`simulate`: Monte Carlo of SGD, GD, GDC, SDE, noisy GD and SVAG
  (:mod:`symsgd.nets.dynamics`) on networks and landscapes, trials batched, paired (:class:`Runs`);
* :mod:`symsgd.nets.campaign`: long runs of :func:`simulate` from a config file, in
  checkpointed chunks, spread over ``torch.distributed`` ranks (``symsgd simulate``);
* :mod:`symsgd.nets.models` and :mod:`symsgd.nets.data`: the papers' models and local data.
"""

from . import campaign, data, dynamics, models
from .estimate import Estimates, estimate
from .landscape import NetLandscape
from .montecarlo import Runs, simulate
from .predict import Prediction, predict
from .restrict import Restricted, restrict
from .spectrum import Subspace, hessian_operator, top_subspace

__all__ = ["NetLandscape", "Estimates", "estimate", "Prediction", "predict", "Subspace",
           "hessian_operator", "top_subspace", "Restricted", "restrict", "Runs", "simulate",
           "campaign", "dynamics", "models", "data"]
