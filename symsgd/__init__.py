"""symsgd: computer algebra for the theory of stochastic gradient descent.

>>> import sympy, symsgd
>>> from symsgd.landscapes import shifting_valleys
>>> symsgd.expected_loss(symsgd.sgd(3), 1, landscape=shifting_valleys())
Series(2 - 15*eta + O(eta**2))
"""

from . import diagrams, landscapes, measures, routes
from .diagrams import Resummed
from .distributions import Dataset, Distribution, RandomVariables, StandardNormal
from .errors import (BackendError, InputTypeError, LandscapeError, MatrixError, MeasureError,
                     MethodError, MissingStatisticError, MomentError, NonFiniteError,
                     NotPolynomialError, OrderError, RangeError, ScheduleError, ShapeError,
                     StabilityError, SymbolError, SymsgdError)
from .expansion import expected_displacement, expected_loss, resummed_displacement, resummed_loss
from .landscape import Landscape
from .schedule import GDSchedule, Schedule, SGDSchedule, gd, sgd
from .series import ETA, Series
from .simulate import Simulation, simulate

__version__ = "0.1.0.dev0"

__all__ = [
    "Landscape", "landscapes", "diagrams", "measures", "routes", "Resummed",
    "Distribution", "StandardNormal", "RandomVariables", "Dataset",
    "GDSchedule", "Schedule", "SGDSchedule", "gd", "sgd",
    "Series", "ETA", "expected_loss", "expected_displacement",
    "resummed_loss", "resummed_displacement",
    "simulate", "Simulation",
    "SymsgdError", "ScheduleError", "LandscapeError", "MomentError", "OrderError",
    "NotPolynomialError", "MeasureError", "ShapeError", "StabilityError", "NonFiniteError",
    "SymbolError", "BackendError", "MissingStatisticError", "RangeError", "MatrixError",
    "MethodError", "InputTypeError",
]
