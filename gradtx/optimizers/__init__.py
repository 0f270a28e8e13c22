"""Optimizers: each a short chain of primitives, with live hyperparameters."""

# Family modules whose names are not re-exported yet; importing them registers their aliases.
from gradtx.optimizers import contrib as contrib
from gradtx.optimizers import gain_adaptation as gain_adaptation
from gradtx.optimizers import loss_driven as loss_driven
from gradtx.optimizers import moment_variants as moment_variants
from gradtx.optimizers import parameter_free as parameter_free
from gradtx.optimizers._registry import OPTIMIZERS as OPTIMIZERS
from gradtx.optimizers._registry import OptimizerInfo as OptimizerInfo
from gradtx.optimizers.adam import adam as adam
from gradtx.optimizers.adam import adamax as adamax
from gradtx.optimizers.adam import adamaxw as adamaxw
from gradtx.optimizers.adam import adamw as adamw
from gradtx.optimizers.adam import amsgrad as amsgrad
from gradtx.optimizers.adam import nadam as nadam
from gradtx.optimizers.adam import nadamw as nadamw
from gradtx.optimizers.adam_variants import adabelief as adabelief
from gradtx.optimizers.adam_variants import adan as adan
from gradtx.optimizers.adam_variants import optimistic_adam as optimistic_adam
from gradtx.optimizers.adam_variants import radam as radam
from gradtx.optimizers.adam_variants import yogi as yogi
from gradtx.optimizers.adaptive import adadelta as adadelta
from gradtx.optimizers.adaptive import adagrad as adagrad
from gradtx.optimizers.adaptive import rmsprop as rmsprop
from gradtx.optimizers.adaptive import rprop as rprop
from gradtx.optimizers.contrib import muon as muon
from gradtx.optimizers.contrib import sam as sam
from gradtx.optimizers.contrib import sophia as sophia
from gradtx.optimizers.factored import adafactor as adafactor
from gradtx.optimizers.factored import sm3 as sm3
from gradtx.optimizers.gain_adaptation import delta_bar_delta as delta_bar_delta
from gradtx.optimizers.gain_adaptation import local_gains as local_gains
from gradtx.optimizers.gain_adaptation import vsgd as vsgd
from gradtx.optimizers.layerwise import fromage as fromage
from gradtx.optimizers.layerwise import lamb as lamb
from gradtx.optimizers.layerwise import lars as lars
from gradtx.optimizers.layerwise import novograd as novograd
from gradtx.optimizers.loss_driven import bold_driver as bold_driver
from gradtx.optimizers.loss_driven import random_search as random_search
from gradtx.optimizers.loss_driven import spsa as spsa
from gradtx.optimizers.moment_variants import ademamix as ademamix
from gradtx.optimizers.moment_variants import adopt as adopt
from gradtx.optimizers.moment_variants import asgd as asgd
from gradtx.optimizers.moment_variants import lazy_adam as lazy_adam
from gradtx.optimizers.moment_variants import madgrad as madgrad
from gradtx.optimizers.moment_variants import simplified_ademamix as simplified_ademamix
from gradtx.optimizers.parameter_free import cocob as cocob
from gradtx.optimizers.parameter_free import dadapt_adamw as dadapt_adamw
from gradtx.optimizers.parameter_free import dog as dog
from gradtx.optimizers.parameter_free import dowg as dowg
from gradtx.optimizers.parameter_free import mechanize as mechanize
from gradtx.optimizers.parameter_free import prodigy as prodigy
from gradtx.optimizers.parameter_free import schedule_free_adamw as schedule_free_adamw
from gradtx.optimizers.parameter_free import schedule_free_sgd as schedule_free_sgd
from gradtx.optimizers.sgd import ema_momentum as ema_momentum
from gradtx.optimizers.sgd import gd as gd
from gradtx.optimizers.sgd import heavy_ball as heavy_ball
from gradtx.optimizers.sgd import sgd as sgd
from gradtx.optimizers.sgd_variants import noisy_sgd as noisy_sgd
from gradtx.optimizers.sgd_variants import (
    optimistic_gradient_descent as optimistic_gradient_descent,
)
from gradtx.optimizers.sgd_variants import polyak_sgd as polyak_sgd
from gradtx.optimizers.sign import lion as lion
from gradtx.optimizers.sign import sign_sgd as sign_sgd
from gradtx.optimizers.sign import signum as signum
