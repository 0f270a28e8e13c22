"""Primitives: each concept of an optimizer, written once."""

from gradtx.transforms._adam_variants import ScaleByAcpropState as ScaleByAcpropState
from gradtx.transforms._adam_variants import scale_by_acprop as scale_by_acprop
from gradtx.transforms._adam_variants import scale_by_adan as scale_by_adan
from gradtx.transforms._adam_variants import scale_by_belief as scale_by_belief
from gradtx.transforms._adam_variants import scale_by_radam as scale_by_radam
from gradtx.transforms._adam_variants import scale_by_yogi as scale_by_yogi
from gradtx.transforms._adaptive import ScaleByRmsState as ScaleByRmsState
from gradtx.transforms._adaptive import ScaleByRssState as ScaleByRssState
from gradtx.transforms._adaptive import ScaleByStddevState as ScaleByStddevState
from gradtx.transforms._adaptive import scale_by_rms as scale_by_rms
from gradtx.transforms._adaptive import scale_by_rss as scale_by_rss
from gradtx.transforms._adaptive import scale_by_stddev as scale_by_stddev
from gradtx.transforms._clipping import clip as clip
from gradtx.transforms._clipping import clip_by_global_norm as clip_by_global_norm
from gradtx.transforms._clipping import (
    per_example_global_norm_clip as per_example_global_norm_clip,
)
from gradtx.transforms._clipping import per_example_layer_norm_clip as per_example_layer_norm_clip
from gradtx.transforms._composite import scale_by_adadelta as scale_by_adadelta
from gradtx.transforms._composite import scale_by_adam as scale_by_adam
from gradtx.transforms._composite import scale_by_adamax as scale_by_adamax
from gradtx.transforms._composite import scale_by_amsgrad as scale_by_amsgrad
from gradtx.transforms._d_adaptation import DAdaptationState as DAdaptationState
from gradtx.transforms._d_adaptation import scale_by_dadapt_adam as scale_by_dadapt_adam
from gradtx.transforms._d_adaptation import scale_by_prodigy as scale_by_prodigy
from gradtx.transforms._decay import AddDecayedWeightsState as AddDecayedWeightsState
from gradtx.transforms._decay import add_decayed_weights as add_decayed_weights
from gradtx.transforms._difference import DifferenceMomentsState as DifferenceMomentsState
from gradtx.transforms._difference import OptimisticGradientState as OptimisticGradientState
from gradtx.transforms._difference import scale_by_difference_moments as scale_by_difference_moments
from gradtx.transforms._difference import (
    scale_by_optimistic_gradient as scale_by_optimistic_gradient,
)
from gradtx.transforms._eigenbasis import KroneckerBasis as KroneckerBasis
from gradtx.transforms._eigenbasis import KroneckerBasisState as KroneckerBasisState
from gradtx.transforms._eigenbasis import kronecker_eigenbasis as kronecker_eigenbasis
from gradtx.transforms._factored import FactoredState as FactoredState
from gradtx.transforms._factored import ScaleByCoverRssState as ScaleByCoverRssState
from gradtx.transforms._factored import scale_by_cover_rss as scale_by_cover_rss
from gradtx.transforms._factored import scale_by_factored_rms as scale_by_factored_rms
from gradtx.transforms._factored import scale_by_param_block_norm as scale_by_param_block_norm
from gradtx.transforms._factored import scale_by_param_block_rms as scale_by_param_block_rms
from gradtx.transforms._gain_adaptation import ScaleByLocalGainsState as ScaleByLocalGainsState
from gradtx.transforms._gain_adaptation import scale_by_local_gains as scale_by_local_gains
from gradtx.transforms._galore import GaLoreDimensionNumbers as GaLoreDimensionNumbers
from gradtx.transforms._galore import GaLoreState as GaLoreState
from gradtx.transforms._galore import scale_by_galore as scale_by_galore
from gradtx.transforms._gradient_free import RandomSearchState as RandomSearchState
from gradtx.transforms._gradient_free import SPSAState as SPSAState
from gradtx.transforms._gradient_free import random_search_step as random_search_step
from gradtx.transforms._gradient_free import spsa_gradient as spsa_gradient
from gradtx.transforms._hessian_diagonal import HessianDiagonalState as HessianDiagonalState
from gradtx.transforms._hessian_diagonal import HutchinsonState as HutchinsonState
from gradtx.transforms._hessian_diagonal import (
    hutchinson_estimator_diag_hessian as hutchinson_estimator_diag_hessian,
)
from gradtx.transforms._hessian_diagonal import (
    scale_by_hessian_diagonal as scale_by_hessian_diagonal,
)
from gradtx.transforms._hessian_diagonal import scale_by_sophia as scale_by_sophia
from gradtx.transforms._layerwise import ScaleByLayerwiseRmsState as ScaleByLayerwiseRmsState
from gradtx.transforms._layerwise import scale_by_layerwise_rms as scale_by_layerwise_rms
from gradtx.transforms._layerwise import scale_by_trust_ratio as scale_by_trust_ratio
from gradtx.transforms._loss_driven import BoldDriverState as BoldDriverState
from gradtx.transforms._loss_driven import ReduceLROnPlateauState as ReduceLROnPlateauState
from gradtx.transforms._loss_driven import reduce_on_plateau as reduce_on_plateau
from gradtx.transforms._loss_driven import scale_by_bold_driver as scale_by_bold_driver
from gradtx.transforms._max_moments import ScaleByInfinityNormState as ScaleByInfinityNormState
from gradtx.transforms._max_moments import ScaleByMaxRmsState as ScaleByMaxRmsState
from gradtx.transforms._max_moments import scale_by_infinity_norm as scale_by_infinity_norm
from gradtx.transforms._max_moments import scale_by_max_rms as scale_by_max_rms
from gradtx.transforms._moment_variants import AddScaledGradientState as AddScaledGradientState
from gradtx.transforms._moment_variants import DualAveragingState as DualAveragingState
from gradtx.transforms._moment_variants import LaggedRmsState as LaggedRmsState
from gradtx.transforms._moment_variants import SlowEmaState as SlowEmaState
from gradtx.transforms._moment_variants import add_scaled_gradient as add_scaled_gradient
from gradtx.transforms._moment_variants import add_slow_ema as add_slow_ema
from gradtx.transforms._moment_variants import scale_by_dual_averaging as scale_by_dual_averaging
from gradtx.transforms._moment_variants import scale_by_lagged_rms as scale_by_lagged_rms
from gradtx.transforms._momentum import BiasCorrectionState as BiasCorrectionState
from gradtx.transforms._momentum import EmaState as EmaState
from gradtx.transforms._momentum import TraceState as TraceState
from gradtx.transforms._momentum import bias_correction as bias_correction
from gradtx.transforms._momentum import ema as ema
from gradtx.transforms._momentum import trace as trace
from gradtx.transforms._momo import ScaleByMomoState as ScaleByMomoState
from gradtx.transforms._momo import scale_by_momo as scale_by_momo
from gradtx.transforms._noise import AddNoiseState as AddNoiseState
from gradtx.transforms._noise import add_noise as add_noise
from gradtx.transforms._normalization import centralize as centralize
from gradtx.transforms._normalization import normalize_by_update_norm as normalize_by_update_norm
from gradtx.transforms._orthogonal import MuonDimensionNumbers as MuonDimensionNumbers
from gradtx.transforms._orthogonal import (
    orthogonalize_via_newton_schulz as orthogonalize_via_newton_schulz,
)
from gradtx.transforms._orthogonal import scale_by_muon as scale_by_muon
from gradtx.transforms._orthogonal import scale_by_newton_schulz as scale_by_newton_schulz
from gradtx.transforms._orthogonal import scale_by_shape as scale_by_shape
from gradtx.transforms._parameter_free import COCOBState as COCOBState
from gradtx.transforms._parameter_free import DoGState as DoGState
from gradtx.transforms._parameter_free import (
    ScaleByDistanceOverGradientsState as ScaleByDistanceOverGradientsState,
)
from gradtx.transforms._parameter_free import scale_by_cocob as scale_by_cocob
from gradtx.transforms._parameter_free import (
    scale_by_distance_over_gradients as scale_by_distance_over_gradients,
)
from gradtx.transforms._parameter_free import scale_by_dog as scale_by_dog
from gradtx.transforms._parameter_free import scale_by_dowg as scale_by_dowg
from gradtx.transforms._privacy import (
    DifferentiallyPrivateAggregateState as DifferentiallyPrivateAggregateState,
)
from gradtx.transforms._privacy import (
    differentially_private_aggregate as differentially_private_aggregate,
)
from gradtx.transforms._psgd import PSGDKronState as PSGDKronState
from gradtx.transforms._psgd import psgd_update_probability as psgd_update_probability
from gradtx.transforms._psgd import scale_by_psgd_kron as scale_by_psgd_kron
from gradtx.transforms._psgd import soft_trust_region as soft_trust_region
from gradtx.transforms._scaling import ScaleByScheduleState as ScaleByScheduleState
from gradtx.transforms._scaling import scale as scale
from gradtx.transforms._scaling import scale_by_learning_rate as scale_by_learning_rate
from gradtx.transforms._scaling import scale_by_schedule as scale_by_schedule
from gradtx.transforms._scaling import scale_by_sign as scale_by_sign
from gradtx.transforms._second_moments import SecondMomentState as SecondMomentState
from gradtx.transforms._second_moments import scale_by_additive_rms as scale_by_additive_rms
from gradtx.transforms._second_moments import scale_by_belief_rms as scale_by_belief_rms
from gradtx.transforms._second_moments import scale_by_rectified_rms as scale_by_rectified_rms
from gradtx.transforms._shampoo import ShampooState as ShampooState
from gradtx.transforms._shampoo import scale_by_shampoo as scale_by_shampoo
from gradtx.transforms._sign import InterpolatedEmaState as InterpolatedEmaState
from gradtx.transforms._sign import interpolated_ema as interpolated_ema
from gradtx.transforms._sign import scale_by_lion as scale_by_lion
from gradtx.transforms._stepsize import ScaleByRpropState as ScaleByRpropState
from gradtx.transforms._stepsize import ScaleByUnitCorrectionState as ScaleByUnitCorrectionState
from gradtx.transforms._stepsize import scale_by_polyak as scale_by_polyak
from gradtx.transforms._stepsize import scale_by_rprop as scale_by_rprop
from gradtx.transforms._stepsize import scale_by_unit_correction as scale_by_unit_correction
from gradtx.transforms._vsgd import ScaleByVsgdState as ScaleByVsgdState
from gradtx.transforms._vsgd import scale_by_vsgd as scale_by_vsgd

__all__ = sorted(name for name in dir() if not name.startswith("_"))
