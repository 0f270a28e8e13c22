"""Primitives: each concept of an optimizer, written once."""

from gradtx.transforms.adaptive import ScaleByInfinityNormState as ScaleByInfinityNormState
from gradtx.transforms.adaptive import ScaleByMaxRmsState as ScaleByMaxRmsState
from gradtx.transforms.adaptive import ScaleByRmsState as ScaleByRmsState
from gradtx.transforms.adaptive import ScaleByRssState as ScaleByRssState
from gradtx.transforms.adaptive import ScaleByStddevState as ScaleByStddevState
from gradtx.transforms.adaptive import scale_by_infinity_norm as scale_by_infinity_norm
from gradtx.transforms.adaptive import scale_by_max_rms as scale_by_max_rms
from gradtx.transforms.adaptive import scale_by_rms as scale_by_rms
from gradtx.transforms.adaptive import scale_by_rss as scale_by_rss
from gradtx.transforms.adaptive import scale_by_stddev as scale_by_stddev
from gradtx.transforms.clipping import clip as clip
from gradtx.transforms.clipping import clip_by_global_norm as clip_by_global_norm
from gradtx.transforms.composite import scale_by_adadelta as scale_by_adadelta
from gradtx.transforms.composite import scale_by_adam as scale_by_adam
from gradtx.transforms.composite import scale_by_adamax as scale_by_adamax
from gradtx.transforms.composite import scale_by_amsgrad as scale_by_amsgrad
from gradtx.transforms.decay import AddDecayedWeightsState as AddDecayedWeightsState
from gradtx.transforms.decay import add_decayed_weights as add_decayed_weights
from gradtx.transforms.momentum import BiasCorrectionState as BiasCorrectionState
from gradtx.transforms.momentum import EmaState as EmaState
from gradtx.transforms.momentum import TraceState as TraceState
from gradtx.transforms.momentum import bias_correction as bias_correction
from gradtx.transforms.momentum import ema as ema
from gradtx.transforms.momentum import trace as trace
from gradtx.transforms.scaling import ScaleByScheduleState as ScaleByScheduleState
from gradtx.transforms.scaling import scale as scale
from gradtx.transforms.scaling import scale_by_learning_rate as scale_by_learning_rate
from gradtx.transforms.scaling import scale_by_schedule as scale_by_schedule
from gradtx.transforms.scaling import scale_by_sign as scale_by_sign
from gradtx.transforms.stepsize import ScaleByRpropState as ScaleByRpropState
from gradtx.transforms.stepsize import ScaleByUnitCorrectionState as ScaleByUnitCorrectionState
from gradtx.transforms.stepsize import scale_by_rprop as scale_by_rprop
from gradtx.transforms.stepsize import scale_by_unit_correction as scale_by_unit_correction

__all__ = [
    "AddDecayedWeightsState",
    "BiasCorrectionState",
    "EmaState",
    "ScaleByInfinityNormState",
    "ScaleByMaxRmsState",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "ScaleByStddevState",
    "ScaleByUnitCorrectionState",
    "TraceState",
    "add_decayed_weights",
    "bias_correction",
    "clip",
    "clip_by_global_norm",
    "ema",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_infinity_norm",
    "scale_by_learning_rate",
    "scale_by_max_rms",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_stddev",
    "scale_by_unit_correction",
    "trace",
]
