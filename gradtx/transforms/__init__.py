"""Primitives: each concept of an optimizer, written once."""

from gradtx.transforms.adam_variants import scale_by_adan as scale_by_adan
from gradtx.transforms.adam_variants import scale_by_belief as scale_by_belief
from gradtx.transforms.adam_variants import scale_by_radam as scale_by_radam
from gradtx.transforms.adam_variants import scale_by_yogi as scale_by_yogi
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
from gradtx.transforms.difference import DifferenceMomentsState as DifferenceMomentsState
from gradtx.transforms.difference import OptimisticGradientState as OptimisticGradientState
from gradtx.transforms.difference import scale_by_difference_moments as scale_by_difference_moments
from gradtx.transforms.difference import (
    scale_by_optimistic_gradient as scale_by_optimistic_gradient,
)
from gradtx.transforms.factored import FactoredState as FactoredState
from gradtx.transforms.factored import ScaleByCoverRssState as ScaleByCoverRssState
from gradtx.transforms.factored import scale_by_cover_rss as scale_by_cover_rss
from gradtx.transforms.factored import scale_by_factored_rms as scale_by_factored_rms
from gradtx.transforms.factored import scale_by_param_block_rms as scale_by_param_block_rms
from gradtx.transforms.gains import ScaleByLocalGainsState as ScaleByLocalGainsState
from gradtx.transforms.gains import ScaleByVsgdState as ScaleByVsgdState
from gradtx.transforms.gains import scale_by_local_gains as scale_by_local_gains
from gradtx.transforms.gains import scale_by_vsgd as scale_by_vsgd
from gradtx.transforms.hessian_diagonal import HessianDiagonalState as HessianDiagonalState
from gradtx.transforms.hessian_diagonal import HutchinsonState as HutchinsonState
from gradtx.transforms.hessian_diagonal import (
    hutchinson_estimator_diag_hessian as hutchinson_estimator_diag_hessian,
)
from gradtx.transforms.hessian_diagonal import (
    scale_by_hessian_diagonal as scale_by_hessian_diagonal,
)
from gradtx.transforms.hessian_diagonal import scale_by_sophia as scale_by_sophia
from gradtx.transforms.loss_driven import BoldDriverState as BoldDriverState
from gradtx.transforms.loss_driven import RandomSearchState as RandomSearchState
from gradtx.transforms.loss_driven import ReduceLROnPlateauState as ReduceLROnPlateauState
from gradtx.transforms.loss_driven import SPSAState as SPSAState
from gradtx.transforms.loss_driven import random_search_step as random_search_step
from gradtx.transforms.loss_driven import reduce_on_plateau as reduce_on_plateau
from gradtx.transforms.loss_driven import scale_by_bold_driver as scale_by_bold_driver
from gradtx.transforms.loss_driven import spsa_gradient as spsa_gradient
from gradtx.transforms.moment_variants import AddScaledGradientState as AddScaledGradientState
from gradtx.transforms.moment_variants import DualAveragingState as DualAveragingState
from gradtx.transforms.moment_variants import LaggedRmsState as LaggedRmsState
from gradtx.transforms.moment_variants import LazyRowsState as LazyRowsState
from gradtx.transforms.moment_variants import SlowEmaState as SlowEmaState
from gradtx.transforms.moment_variants import add_scaled_gradient as add_scaled_gradient
from gradtx.transforms.moment_variants import add_slow_ema as add_slow_ema
from gradtx.transforms.moment_variants import lazy_rows as lazy_rows
from gradtx.transforms.moment_variants import scale_by_dual_averaging as scale_by_dual_averaging
from gradtx.transforms.moment_variants import scale_by_lagged_rms as scale_by_lagged_rms
from gradtx.transforms.momentum import BiasCorrectionState as BiasCorrectionState
from gradtx.transforms.momentum import EmaState as EmaState
from gradtx.transforms.momentum import TraceState as TraceState
from gradtx.transforms.momentum import bias_correction as bias_correction
from gradtx.transforms.momentum import ema as ema
from gradtx.transforms.momentum import trace as trace
from gradtx.transforms.noise import AddNoiseState as AddNoiseState
from gradtx.transforms.noise import add_noise as add_noise
from gradtx.transforms.online_learning import COCOBState as COCOBState
from gradtx.transforms.online_learning import MechanicState as MechanicState
from gradtx.transforms.online_learning import ScheduleFreeState as ScheduleFreeState
from gradtx.transforms.online_learning import scale_by_cocob as scale_by_cocob
from gradtx.transforms.online_learning import scale_by_mechanic as scale_by_mechanic
from gradtx.transforms.online_learning import schedule_free as schedule_free
from gradtx.transforms.online_learning import schedule_free_eval_params as schedule_free_eval_params
from gradtx.transforms.orthogonal import MuonDimensionNumbers as MuonDimensionNumbers
from gradtx.transforms.orthogonal import (
    orthogonalize_via_newton_schulz as orthogonalize_via_newton_schulz,
)
from gradtx.transforms.orthogonal import scale_by_muon as scale_by_muon
from gradtx.transforms.orthogonal import scale_by_newton_schulz as scale_by_newton_schulz
from gradtx.transforms.orthogonal import scale_by_shape as scale_by_shape
from gradtx.transforms.parameter_free import DAdaptationState as DAdaptationState
from gradtx.transforms.parameter_free import DoGState as DoGState
from gradtx.transforms.parameter_free import scale_by_dadapt_adam as scale_by_dadapt_adam
from gradtx.transforms.parameter_free import scale_by_dog as scale_by_dog
from gradtx.transforms.parameter_free import scale_by_dowg as scale_by_dowg
from gradtx.transforms.parameter_free import scale_by_prodigy as scale_by_prodigy
from gradtx.transforms.polyak import scale_by_polyak as scale_by_polyak
from gradtx.transforms.scaling import ScaleByScheduleState as ScaleByScheduleState
from gradtx.transforms.scaling import scale as scale
from gradtx.transforms.scaling import scale_by_learning_rate as scale_by_learning_rate
from gradtx.transforms.scaling import scale_by_schedule as scale_by_schedule
from gradtx.transforms.scaling import scale_by_sign as scale_by_sign
from gradtx.transforms.second_moments import SecondMomentState as SecondMomentState
from gradtx.transforms.second_moments import scale_by_additive_rms as scale_by_additive_rms
from gradtx.transforms.second_moments import scale_by_belief_rms as scale_by_belief_rms
from gradtx.transforms.second_moments import scale_by_rectified_rms as scale_by_rectified_rms
from gradtx.transforms.sign import InterpolatedEmaState as InterpolatedEmaState
from gradtx.transforms.sign import interpolated_ema as interpolated_ema
from gradtx.transforms.sign import scale_by_lion as scale_by_lion
from gradtx.transforms.stepsize import ScaleByRpropState as ScaleByRpropState
from gradtx.transforms.stepsize import ScaleByUnitCorrectionState as ScaleByUnitCorrectionState
from gradtx.transforms.stepsize import scale_by_rprop as scale_by_rprop
from gradtx.transforms.stepsize import scale_by_unit_correction as scale_by_unit_correction
from gradtx.transforms.trust_ratio import ScaleByLayerwiseRmsState as ScaleByLayerwiseRmsState
from gradtx.transforms.trust_ratio import scale_by_layerwise_rms as scale_by_layerwise_rms
from gradtx.transforms.trust_ratio import scale_by_trust_ratio as scale_by_trust_ratio

__all__ = [
    "AddDecayedWeightsState",
    "AddNoiseState",
    "AddScaledGradientState",
    "BiasCorrectionState",
    "BoldDriverState",
    "COCOBState",
    "DAdaptationState",
    "DifferenceMomentsState",
    "DoGState",
    "DualAveragingState",
    "EmaState",
    "FactoredState",
    "HessianDiagonalState",
    "HutchinsonState",
    "InterpolatedEmaState",
    "LaggedRmsState",
    "LazyRowsState",
    "MechanicState",
    "MuonDimensionNumbers",
    "OptimisticGradientState",
    "RandomSearchState",
    "ReduceLROnPlateauState",
    "SPSAState",
    "ScaleByCoverRssState",
    "ScaleByInfinityNormState",
    "ScaleByLayerwiseRmsState",
    "ScaleByLocalGainsState",
    "ScaleByMaxRmsState",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "ScaleByStddevState",
    "ScaleByUnitCorrectionState",
    "ScaleByVsgdState",
    "ScheduleFreeState",
    "SecondMomentState",
    "SlowEmaState",
    "TraceState",
    "add_decayed_weights",
    "add_noise",
    "add_scaled_gradient",
    "add_slow_ema",
    "bias_correction",
    "clip",
    "clip_by_global_norm",
    "ema",
    "hutchinson_estimator_diag_hessian",
    "interpolated_ema",
    "lazy_rows",
    "orthogonalize_via_newton_schulz",
    "random_search_step",
    "reduce_on_plateau",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_additive_rms",
    "scale_by_amsgrad",
    "scale_by_belief",
    "scale_by_belief_rms",
    "scale_by_bold_driver",
    "scale_by_cocob",
    "scale_by_cover_rss",
    "scale_by_dadapt_adam",
    "scale_by_difference_moments",
    "scale_by_dog",
    "scale_by_dowg",
    "scale_by_dual_averaging",
    "scale_by_factored_rms",
    "scale_by_hessian_diagonal",
    "scale_by_infinity_norm",
    "scale_by_lagged_rms",
    "scale_by_layerwise_rms",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_local_gains",
    "scale_by_max_rms",
    "scale_by_mechanic",
    "scale_by_muon",
    "scale_by_newton_schulz",
    "scale_by_optimistic_gradient",
    "scale_by_param_block_rms",
    "scale_by_polyak",
    "scale_by_prodigy",
    "scale_by_radam",
    "scale_by_rectified_rms",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_shape",
    "scale_by_sign",
    "scale_by_sophia",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "scale_by_unit_correction",
    "scale_by_vsgd",
    "scale_by_yogi",
    "schedule_free",
    "schedule_free_eval_params",
    "spsa_gradient",
    "trace",
]
