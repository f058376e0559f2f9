"""symsgd: computer algebra for the theory of stochastic gradient descent."""

from .errors import (LandscapeError, MeasureError, MomentError, NonFiniteError,
                     NotPolynomialError, OrderError, ScheduleError, ShapeError,
                     StabilityError, SymsgdError)
from .schedule import GDSchedule, Schedule, SGDSchedule, gd, sgd

__version__ = "0.1.0.dev0"

__all__ = [
    "GDSchedule", "Schedule", "SGDSchedule", "gd", "sgd",
    "SymsgdError", "ScheduleError", "LandscapeError", "MomentError", "OrderError",
    "NotPolynomialError", "MeasureError", "ShapeError", "StabilityError", "NonFiniteError",
]
