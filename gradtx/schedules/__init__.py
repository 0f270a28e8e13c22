"""Schedules: callables `schedule(count) -> value` of the int32 step count.

Names, arguments and defaults follow Optax, so `optax.X(...)` becomes `gradtx.schedules.X(...)`
by changing the import. `inverse_time_decay` and `momentum_ramp` have no Optax counterpart.
"""

from ._basic import Schedule as Schedule
from ._basic import constant_schedule as constant_schedule
from ._basic import exponential_decay as exponential_decay
from ._basic import inverse_time_decay as inverse_time_decay
from ._basic import linear_schedule as linear_schedule
from ._basic import polynomial_schedule as polynomial_schedule
from ._combine import join_schedules as join_schedules
from ._combine import momentum_ramp as momentum_ramp
from ._cosine import cosine_decay_schedule as cosine_decay_schedule
from ._cosine import cosine_onecycle_schedule as cosine_onecycle_schedule
from ._cosine import linear_onecycle_schedule as linear_onecycle_schedule
from ._cosine import sgdr_schedule as sgdr_schedule
from ._cosine import warmup_constant_schedule as warmup_constant_schedule
from ._cosine import warmup_cosine_decay_schedule as warmup_cosine_decay_schedule
from ._cosine import warmup_exponential_decay_schedule as warmup_exponential_decay_schedule
from ._piecewise import piecewise_constant_schedule as piecewise_constant_schedule
from ._piecewise import piecewise_interpolate_schedule as piecewise_interpolate_schedule
from ._stateful import StatefulSchedule as StatefulSchedule
from ._stateful import WrappedSchedule as WrappedSchedule
from ._stateful import WrappedScheduleState as WrappedScheduleState

__all__ = sorted(name for name in dir() if not name.startswith("_"))
