"""The optimizers :func:`symsgd.nets.simulate` runs, one module each.

* :class:`SGD` (any schedule; momentum, Nesterov, weight decay) and :func:`GD`;
* :class:`FreshBatchSGD`: batches drawn with replacement at every step;
* :class:`GDC`: GD on Tenka's Corollary 1 regularizer;
* :class:`SDE` (Euler-Maruyama, refined) and :class:`NoisyGD`;
* :class:`SVAG` (Li, Malladi and Arora);
* :class:`Dynamics`: the interface they implement.
"""

from ._base import Dynamics
from .gdc import GDC
from .sde import SDE, NoisyGD
from .sgd import GD, SGD, FreshBatchSGD
from .svag import SVAG

__all__ = ["Dynamics", "SGD", "GD", "FreshBatchSGD", "GDC", "SDE", "NoisyGD", "SVAG"]
