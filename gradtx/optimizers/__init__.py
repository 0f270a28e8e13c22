"""Optimizers: each a short chain of primitives, with live hyperparameters.

One private module per family (``_adam.py``, ``_sign.py``, ...); the family of an optimizer
is the name of its module (``gradtx.OPTIMIZERS[name].family``), and each family has one
documentation page. The transforms that wrap another optimizer (SAM, Mechanic, schedule-free)
are in :mod:`gradtx.wrappers`; the aliases built from them are here.
"""

from gradtx._registry import OPTIMIZERS as OPTIMIZERS
from gradtx._registry import OptimizerInfo as OptimizerInfo
from gradtx.optimizers._adam import adam as adam
from gradtx.optimizers._adam import adamax as adamax
from gradtx.optimizers._adam import adamaxw as adamaxw
from gradtx.optimizers._adam import adamw as adamw
from gradtx.optimizers._adam import amsgrad as amsgrad
from gradtx.optimizers._adam import nadam as nadam
from gradtx.optimizers._adam import nadamw as nadamw
from gradtx.optimizers._adam_variants import acprop as acprop
from gradtx.optimizers._adam_variants import adabelief as adabelief
from gradtx.optimizers._adam_variants import adan as adan
from gradtx.optimizers._adam_variants import radam as radam
from gradtx.optimizers._adam_variants import yogi as yogi
from gradtx.optimizers._adaptive import adadelta as adadelta
from gradtx.optimizers._adaptive import adagrad as adagrad
from gradtx.optimizers._adaptive import rmsprop as rmsprop
from gradtx.optimizers._adaptive import rprop as rprop
from gradtx.optimizers._d_adaptation import dadapt_adamw as dadapt_adamw
from gradtx.optimizers._d_adaptation import prodigy as prodigy
from gradtx.optimizers._factored import adafactor as adafactor
from gradtx.optimizers._factored import sm3 as sm3
from gradtx.optimizers._gain_adaptation import delta_bar_delta as delta_bar_delta
from gradtx.optimizers._gain_adaptation import local_gains as local_gains
from gradtx.optimizers._gain_adaptation import vsgd as vsgd
from gradtx.optimizers._galore import galore as galore
from gradtx.optimizers._hessian_diagonal import sophia as sophia
from gradtx.optimizers._kronecker import psgd_kron as psgd_kron
from gradtx.optimizers._kronecker import shampoo as shampoo
from gradtx.optimizers._kronecker import soap as soap
from gradtx.optimizers._layerwise import fromage as fromage
from gradtx.optimizers._layerwise import lamb as lamb
from gradtx.optimizers._layerwise import lars as lars
from gradtx.optimizers._layerwise import novograd as novograd
from gradtx.optimizers._loss_driven import bold_driver as bold_driver
from gradtx.optimizers._loss_driven import random_search as random_search
from gradtx.optimizers._loss_driven import spsa as spsa
from gradtx.optimizers._mechanic import mechanize as mechanize
from gradtx.optimizers._moment_variants import ademamix as ademamix
from gradtx.optimizers._moment_variants import adopt as adopt
from gradtx.optimizers._moment_variants import lazy_adam as lazy_adam
from gradtx.optimizers._moment_variants import madgrad as madgrad
from gradtx.optimizers._moment_variants import simplified_ademamix as simplified_ademamix
from gradtx.optimizers._momo import momo as momo
from gradtx.optimizers._momo import momo_adam as momo_adam
from gradtx.optimizers._optimistic import optimistic_adam as optimistic_adam
from gradtx.optimizers._optimistic import optimistic_adam_v2 as optimistic_adam_v2
from gradtx.optimizers._orthogonal import muon as muon
from gradtx.optimizers._parameter_free import cocob as cocob
from gradtx.optimizers._parameter_free import dog as dog
from gradtx.optimizers._parameter_free import dowg as dowg
from gradtx.optimizers._privacy import dpsgd as dpsgd
from gradtx.optimizers._sam import sam as sam
from gradtx.optimizers._schedule_free import schedule_free_adamw as schedule_free_adamw
from gradtx.optimizers._schedule_free import schedule_free_sgd as schedule_free_sgd
from gradtx.optimizers._sgd import ema_momentum as ema_momentum
from gradtx.optimizers._sgd import gd as gd
from gradtx.optimizers._sgd import heavy_ball as heavy_ball
from gradtx.optimizers._sgd import sgd as sgd
from gradtx.optimizers._sgd_variants import asgd as asgd
from gradtx.optimizers._sgd_variants import noisy_sgd as noisy_sgd
from gradtx.optimizers._sgd_variants import (
    optimistic_gradient_descent as optimistic_gradient_descent,
)
from gradtx.optimizers._sgd_variants import polyak_sgd as polyak_sgd
from gradtx.optimizers._sign import lion as lion
from gradtx.optimizers._sign import sign_sgd as sign_sgd
from gradtx.optimizers._sign import signum as signum

__all__ = sorted(name for name in dir() if not name.startswith("_"))
