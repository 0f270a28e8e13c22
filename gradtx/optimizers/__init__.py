"""Optimizers: each a short chain of primitives, with live hyperparameters.

One private module per family (``_adam.py``, ``_sign.py``, ...); the family of an optimizer
is the name of its module (``gradtx.OPTIMIZERS[name].family``), and each family has one
documentation page. A family module lists its optimizers in its ``__all__``; this package
exports them all, and ``gradtx`` re-exports this package's ``__all__``. The transforms that
wrap another optimizer (SAM, Mechanic, schedule-free) are in :mod:`gradtx.wrappers`; the
aliases built from them are here.
"""

from gradtx._registry import OPTIMIZERS as OPTIMIZERS
from gradtx._registry import OptimizerInfo as OptimizerInfo
from gradtx.optimizers._adam import *  # noqa: F403
from gradtx.optimizers._adam_variants import *  # noqa: F403
from gradtx.optimizers._adaptive import *  # noqa: F403
from gradtx.optimizers._d_adaptation import *  # noqa: F403
from gradtx.optimizers._factored import *  # noqa: F403
from gradtx.optimizers._gain_adaptation import *  # noqa: F403
from gradtx.optimizers._galore import *  # noqa: F403
from gradtx.optimizers._hessian_diagonal import *  # noqa: F403
from gradtx.optimizers._kronecker import *  # noqa: F403
from gradtx.optimizers._layerwise import *  # noqa: F403
from gradtx.optimizers._loss_driven import *  # noqa: F403
from gradtx.optimizers._mechanic import *  # noqa: F403
from gradtx.optimizers._moment_variants import *  # noqa: F403
from gradtx.optimizers._momo import *  # noqa: F403
from gradtx.optimizers._optimistic import *  # noqa: F403
from gradtx.optimizers._orthogonal import *  # noqa: F403
from gradtx.optimizers._parameter_free import *  # noqa: F403
from gradtx.optimizers._privacy import *  # noqa: F403
from gradtx.optimizers._sam import *  # noqa: F403
from gradtx.optimizers._schedule_free import *  # noqa: F403
from gradtx.optimizers._sgd import *  # noqa: F403
from gradtx.optimizers._sgd_variants import *  # noqa: F403
from gradtx.optimizers._sign import *  # noqa: F403

__all__ = sorted(name for name in dir() if not name.startswith("_"))
