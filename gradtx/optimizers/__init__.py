"""Optimizers: each a short chain of primitives, with live hyperparameters."""

from gradtx.optimizers._registry import OPTIMIZERS as OPTIMIZERS
from gradtx.optimizers._registry import OptimizerInfo as OptimizerInfo
from gradtx.optimizers.adam import adam as adam
from gradtx.optimizers.adam import adamax as adamax
from gradtx.optimizers.adam import adamaxw as adamaxw
from gradtx.optimizers.adam import adamw as adamw
from gradtx.optimizers.adam import amsgrad as amsgrad
from gradtx.optimizers.adam import nadam as nadam
from gradtx.optimizers.adam import nadamw as nadamw
from gradtx.optimizers.adaptive import adadelta as adadelta
from gradtx.optimizers.adaptive import adagrad as adagrad
from gradtx.optimizers.adaptive import rmsprop as rmsprop
from gradtx.optimizers.adaptive import rprop as rprop
from gradtx.optimizers.sgd import ema_momentum as ema_momentum
from gradtx.optimizers.sgd import gd as gd
from gradtx.optimizers.sgd import heavy_ball as heavy_ball
from gradtx.optimizers.sgd import sgd as sgd
