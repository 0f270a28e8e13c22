"""Training-safety wrappers: clipping, non-finite protection, masks and partitions,
gradient accumulation, flattening, quantized state, Lookahead, parameter averaging and
monitoring, and the transforms that wrap another optimizer (SAM, Mechanic, schedule-free).
A wrapper never imports an optimizer: the aliases built from these wrappers are in
:mod:`gradtx.optimizers`.

Each is a :class:`~gradtx.GradientTransformation` with Optax's protocol; a wrapper takes an
inner transform (gradtx or Optax) and forwards the extra keyword arguments to it.
"""

from gradtx._quantization import QuantizedArray as QuantizedArray
from gradtx.wrappers._accumulate import ApplyEveryState as ApplyEveryState
from gradtx.wrappers._accumulate import MultiSteps as MultiSteps
from gradtx.wrappers._accumulate import MultiStepsState as MultiStepsState
from gradtx.wrappers._accumulate import apply_every as apply_every
from gradtx.wrappers._accumulate import multi_steps as multi_steps
from gradtx.wrappers._accumulate import skip_large_updates as skip_large_updates
from gradtx.wrappers._accumulate import skip_not_finite as skip_not_finite
from gradtx.wrappers._averaging import EmaParamsState as EmaParamsState
from gradtx.wrappers._averaging import PolyakAverageState as PolyakAverageState
from gradtx.wrappers._averaging import averaged_params as averaged_params
from gradtx.wrappers._averaging import ema_params as ema_params
from gradtx.wrappers._averaging import incremental_update as incremental_update
from gradtx.wrappers._averaging import periodic_update as periodic_update
from gradtx.wrappers._averaging import polyak_average as polyak_average
from gradtx.wrappers._change_basis import ChangeBasisState as ChangeBasisState
from gradtx.wrappers._change_basis import change_basis as change_basis
from gradtx.wrappers._clipping import adaptive_grad_clip as adaptive_grad_clip
from gradtx.wrappers._clipping import clip_by_block_rms as clip_by_block_rms
from gradtx.wrappers._clipping import keep_params_nonnegative as keep_params_nonnegative
from gradtx.wrappers._clipping import unitwise_clip as unitwise_clip
from gradtx.wrappers._clipping import unitwise_norm as unitwise_norm
from gradtx.wrappers._complex import SplitRealAndImaginaryArrays as SplitRealAndImaginaryArrays
from gradtx.wrappers._complex import SplitRealAndImaginaryState as SplitRealAndImaginaryState
from gradtx.wrappers._complex import split_real_and_imaginary as split_real_and_imaginary
from gradtx.wrappers._conditional import ConditionallyMaskState as ConditionallyMaskState
from gradtx.wrappers._conditional import (
    ConditionallyTransformState as ConditionallyTransformState,
)
from gradtx.wrappers._conditional import conditionally_mask as conditionally_mask
from gradtx.wrappers._conditional import conditionally_transform as conditionally_transform
from gradtx.wrappers._flatten import flatten as flatten
from gradtx.wrappers._freezing import freeze as freeze
from gradtx.wrappers._freezing import selective_transform as selective_transform
from gradtx.wrappers._graft import GraftState as GraftState
from gradtx.wrappers._graft import graft as graft
from gradtx.wrappers._lazy_rows import LazyRowsState as LazyRowsState
from gradtx.wrappers._lazy_rows import lazy_rows as lazy_rows
from gradtx.wrappers._lookahead import LookaheadParams as LookaheadParams
from gradtx.wrappers._lookahead import LookaheadState as LookaheadState
from gradtx.wrappers._lookahead import lookahead as lookahead
from gradtx.wrappers._mechanic import MechanicState as MechanicState
from gradtx.wrappers._mechanic import scale_by_mechanic as scale_by_mechanic
from gradtx.wrappers._monitor import MonitorNormsState as MonitorNormsState
from gradtx.wrappers._monitor import MonitorState as MonitorState
from gradtx.wrappers._monitor import SnapshotState as SnapshotState
from gradtx.wrappers._monitor import measure_with_ema as measure_with_ema
from gradtx.wrappers._monitor import monitor as monitor
from gradtx.wrappers._monitor import monitor_norms as monitor_norms
from gradtx.wrappers._monitor import snapshot as snapshot
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
from gradtx.wrappers._partition import labels_by_path as labels_by_path
from gradtx.wrappers._partition import masked as masked
from gradtx.wrappers._partition import multi_transform as multi_transform
from gradtx.wrappers._partition import partition as partition
from gradtx.wrappers._quantize_state import QuantizedState as QuantizedState
from gradtx.wrappers._quantize_state import StateBuffer as StateBuffer
from gradtx.wrappers._quantize_state import dequantize_state as dequantize_state
from gradtx.wrappers._quantize_state import moment_rule as moment_rule
from gradtx.wrappers._quantize_state import quantize_state as quantize_state
from gradtx.wrappers._sam import SAMState as SAMState
from gradtx.wrappers._sam import normalize as normalize
from gradtx.wrappers._schedule_free import ScheduleFreeState as ScheduleFreeState
from gradtx.wrappers._schedule_free import schedule_free as schedule_free
from gradtx.wrappers._schedule_free import schedule_free_eval_params as schedule_free_eval_params

__all__ = sorted(name for name in dir() if not name.startswith("_"))
