"""gradtx: every optimizer a chain of small, pure, composable gradient transformations."""

from gradtx import checkpoint as checkpoint
from gradtx import optimizers as optimizers
from gradtx import schedules as schedules
from gradtx import second_order as second_order
from gradtx import sharding as sharding
from gradtx import transforms as transforms
from gradtx import utils as utils
from gradtx import wrappers as wrappers
from gradtx._base import EmptyState as EmptyState
from gradtx._base import GradientTransformation as GradientTransformation
from gradtx._base import OptState as OptState
from gradtx._base import Params as Params
from gradtx._base import Updates as Updates
from gradtx._base import apply_updates as apply_updates
from gradtx._base import chain as chain
from gradtx._base import identity as identity
from gradtx._base import named_chain as named_chain
from gradtx._base import set_to_zero as set_to_zero
from gradtx._base import stateless as stateless
from gradtx._inject import InjectState as InjectState
from gradtx._inject import get_hyperparams as get_hyperparams
from gradtx._inject import inject_hyperparams as inject_hyperparams
from gradtx._inject import set_hyperparams as set_hyperparams
from gradtx._version import __version__ as __version__  # from pyproject.toml, via metadata
from gradtx.optimizers import OPTIMIZERS as OPTIMIZERS
from gradtx.optimizers import OptimizerInfo as OptimizerInfo
from gradtx.optimizers import acprop as acprop
from gradtx.optimizers import adabelief as adabelief
from gradtx.optimizers import adadelta as adadelta
from gradtx.optimizers import adafactor as adafactor
from gradtx.optimizers import adagrad as adagrad
from gradtx.optimizers import adam as adam
from gradtx.optimizers import adamax as adamax
from gradtx.optimizers import adamaxw as adamaxw
from gradtx.optimizers import adamw as adamw
from gradtx.optimizers import adan as adan
from gradtx.optimizers import ademamix as ademamix
from gradtx.optimizers import adopt as adopt
from gradtx.optimizers import amsgrad as amsgrad
from gradtx.optimizers import asgd as asgd
from gradtx.optimizers import bold_driver as bold_driver
from gradtx.optimizers import cocob as cocob
from gradtx.optimizers import dadapt_adamw as dadapt_adamw
from gradtx.optimizers import delta_bar_delta as delta_bar_delta
from gradtx.optimizers import dog as dog
from gradtx.optimizers import dowg as dowg
from gradtx.optimizers import dpsgd as dpsgd
from gradtx.optimizers import ema_momentum as ema_momentum
from gradtx.optimizers import fromage as fromage
from gradtx.optimizers import galore as galore
from gradtx.optimizers import gd as gd
from gradtx.optimizers import heavy_ball as heavy_ball
from gradtx.optimizers import lamb as lamb
from gradtx.optimizers import lars as lars
from gradtx.optimizers import lazy_adam as lazy_adam
from gradtx.optimizers import lion as lion
from gradtx.optimizers import local_gains as local_gains
from gradtx.optimizers import madgrad as madgrad
from gradtx.optimizers import mechanize as mechanize
from gradtx.optimizers import momo as momo
from gradtx.optimizers import momo_adam as momo_adam
from gradtx.optimizers import muon as muon
from gradtx.optimizers import nadam as nadam
from gradtx.optimizers import nadamw as nadamw
from gradtx.optimizers import noisy_sgd as noisy_sgd
from gradtx.optimizers import novograd as novograd
from gradtx.optimizers import optimistic_adam as optimistic_adam
from gradtx.optimizers import optimistic_gradient_descent as optimistic_gradient_descent
from gradtx.optimizers import polyak_sgd as polyak_sgd
from gradtx.optimizers import prodigy as prodigy
from gradtx.optimizers import radam as radam
from gradtx.optimizers import random_search as random_search
from gradtx.optimizers import rmsprop as rmsprop
from gradtx.optimizers import rprop as rprop
from gradtx.optimizers import sam as sam
from gradtx.optimizers import schedule_free_adamw as schedule_free_adamw
from gradtx.optimizers import schedule_free_sgd as schedule_free_sgd
from gradtx.optimizers import sgd as sgd
from gradtx.optimizers import sign_sgd as sign_sgd
from gradtx.optimizers import signum as signum
from gradtx.optimizers import simplified_ademamix as simplified_ademamix
from gradtx.optimizers import sm3 as sm3
from gradtx.optimizers import sophia as sophia
from gradtx.optimizers import spsa as spsa
from gradtx.optimizers import vsgd as vsgd
from gradtx.optimizers import yogi as yogi
from gradtx.schedules import *  # noqa: F403 - listed in schedules/__init__.py
from gradtx.schedules import __all__ as _schedules_all
from gradtx.second_order import MinimizeResult as MinimizeResult
from gradtx.second_order import Status as Status
from gradtx.second_order import gauss_newton_vector_product as gauss_newton_vector_product
from gradtx.second_order import hessian_free as hessian_free
from gradtx.second_order import hessian_vector_product as hessian_vector_product
from gradtx.second_order import lbfgs as lbfgs
from gradtx.second_order import minimize as minimize
from gradtx.second_order import newton as newton
from gradtx.second_order import nonlinear_cg as nonlinear_cg
from gradtx.second_order import scale_by_backtracking_linesearch as scale_by_backtracking_linesearch
from gradtx.second_order import scale_by_lbfgs as scale_by_lbfgs
from gradtx.second_order import scale_by_newton as scale_by_newton
from gradtx.second_order import scale_by_nonlinear_cg as scale_by_nonlinear_cg
from gradtx.second_order import scale_by_zoom_linesearch as scale_by_zoom_linesearch
from gradtx.second_order import value_and_grad_from_state as value_and_grad_from_state
from gradtx.transforms import *  # noqa: F403 - the primitives, listed in transforms/__init__.py
from gradtx.transforms import __all__ as _transforms_all
from gradtx.utils import LRRangeResult as LRRangeResult
from gradtx.utils import lr_range_test as lr_range_test
from gradtx.wrappers import *  # noqa: F403 - listed in wrappers/__init__.py
from gradtx.wrappers import __all__ as _wrappers_all

__all__ = sorted(
    {name for name in dir() if not name.startswith("_")} - {"annotations"}
    | set(_transforms_all)
    | set(_schedules_all)
    | set(_wrappers_all)
)
