"""Training-safety wrappers: clipping, non-finite protection, masks and partitions,
gradient accumulation, flattening, Lookahead, parameter averaging and monitoring.

Each is a :class:`~gradtx.GradientTransformation` with Optax's protocol; a wrapper takes an
inner transform (gradtx or Optax) and forwards the extra keyword arguments to it.
"""

from gradtx.wrappers._accumulate import ApplyEveryState as ApplyEveryState
from gradtx.wrappers._accumulate import MultiSteps as MultiSteps
from gradtx.wrappers._accumulate import MultiStepsState as MultiStepsState
from gradtx.wrappers._accumulate import apply_every as apply_every
from gradtx.wrappers._accumulate import multi_steps as multi_steps
from gradtx.wrappers._averaging import EmaParamsState as EmaParamsState
from gradtx.wrappers._averaging import LookaheadParams as LookaheadParams
from gradtx.wrappers._averaging import LookaheadState as LookaheadState
from gradtx.wrappers._averaging import PolyakAverageState as PolyakAverageState
from gradtx.wrappers._averaging import averaged_params as averaged_params
from gradtx.wrappers._averaging import ema_params as ema_params
from gradtx.wrappers._averaging import lookahead as lookahead
from gradtx.wrappers._averaging import polyak_average as polyak_average
from gradtx.wrappers._clipping import adaptive_grad_clip as adaptive_grad_clip
from gradtx.wrappers._clipping import clip_by_block_rms as clip_by_block_rms
from gradtx.wrappers._clipping import keep_params_nonnegative as keep_params_nonnegative
from gradtx.wrappers._flatten import flatten as flatten
from gradtx.wrappers._monitor import MonitorNormsState as MonitorNormsState
from gradtx.wrappers._monitor import monitor_norms as monitor_norms
from gradtx.wrappers._nonfinite import ApplyIfFiniteState as ApplyIfFiniteState
from gradtx.wrappers._nonfinite import SkipNonfiniteStepsState as SkipNonfiniteStepsState
from gradtx.wrappers._nonfinite import ZeroNansState as ZeroNansState
from gradtx.wrappers._nonfinite import apply_if_finite as apply_if_finite
from gradtx.wrappers._nonfinite import skip_nonfinite_steps as skip_nonfinite_steps
from gradtx.wrappers._nonfinite import zero_nans as zero_nans
from gradtx.wrappers._partition import MaskedNode as MaskedNode
from gradtx.wrappers._partition import MaskedState as MaskedState
from gradtx.wrappers._partition import MultiTransformState as MultiTransformState
from gradtx.wrappers._partition import PartitionState as PartitionState
from gradtx.wrappers._partition import freeze as freeze
from gradtx.wrappers._partition import labels_by_path as labels_by_path
from gradtx.wrappers._partition import masked as masked
from gradtx.wrappers._partition import multi_transform as multi_transform
from gradtx.wrappers._partition import partition as partition
from gradtx.wrappers._sam import SAMState as SAMState
from gradtx.wrappers._sam import normalize as normalize

__all__ = [
    "ApplyEveryState",
    "ApplyIfFiniteState",
    "EmaParamsState",
    "LookaheadParams",
    "LookaheadState",
    "MaskedNode",
    "MaskedState",
    "MonitorNormsState",
    "MultiSteps",
    "MultiStepsState",
    "MultiTransformState",
    "PartitionState",
    "PolyakAverageState",
    "SAMState",
    "SkipNonfiniteStepsState",
    "ZeroNansState",
    "adaptive_grad_clip",
    "apply_every",
    "apply_if_finite",
    "averaged_params",
    "clip_by_block_rms",
    "ema_params",
    "flatten",
    "freeze",
    "keep_params_nonnegative",
    "labels_by_path",
    "lookahead",
    "masked",
    "monitor_norms",
    "multi_steps",
    "multi_transform",
    "normalize",
    "partition",
    "polyak_average",
    "skip_nonfinite_steps",
    "zero_nans",
]
