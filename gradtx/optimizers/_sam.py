"""Sharpness-aware minimization (SAM).

SAM takes its gradient at an adversarially perturbed point: an ascent step along the
normalized gradient, then the outer optimizer's step from the weights before it, with the
gradient taken at the perturbed weights. The alias ``sam`` is the wrapper
:func:`gradtx.sam`, which works around any outer and adversarial optimizers, registered as
an optimizer.
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx._base import chain
from gradtx._registry import optimizer
from gradtx.optimizers._sgd import sgd
from gradtx.transforms._scaling import scale_by_learning_rate
from gradtx.wrappers import _sam

__all__ = ["sam"]

# SAM takes two optimizers and has no numeric hyperparameters of its own (its inner
# optimizers keep theirs live in their own states): registered as it is, every argument static.
sam = optimizer(
    optax="`optax.contrib.sam`",
    pytorch="—",
    hyperparams={
        "optimizer": hp.TRANSFORM,
        "adv_optimizer": hp.TRANSFORM,
        "sync_period": hp.count(1),
        "reset_state": hp.FLAG,
        "opaque_mode": hp.FLAG,
        "batch_axis_name": hp.structural(optional=True),
    },
    example={
        "optimizer": sgd(0.1, momentum=0.9),
        "adv_optimizer": chain(_sam.normalize(), scale_by_learning_rate(0.05)),
    },
)(_sam.sam)
