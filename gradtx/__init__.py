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
from gradtx._base import GradientTransformationExtraArgs as GradientTransformationExtraArgs
from gradtx._base import OptState as OptState
from gradtx._base import Params as Params
from gradtx._base import Updates as Updates
from gradtx._base import apply_updates as apply_updates
from gradtx._base import chain as chain
from gradtx._base import identity as identity
from gradtx._base import named_chain as named_chain
from gradtx._base import set_to_zero as set_to_zero
from gradtx._base import stateless as stateless
from gradtx._base import with_extra_args_support as with_extra_args_support
from gradtx._inject import InjectState as InjectState
from gradtx._inject import get_hyperparams as get_hyperparams
from gradtx._inject import inject_hyperparams as inject_hyperparams
from gradtx._inject import set_hyperparams as set_hyperparams
from gradtx._version import __version__ as __version__  # from pyproject.toml, via metadata
from gradtx.optimizers import *  # noqa: F403 - listed in optimizers/__init__.py
from gradtx.optimizers import __all__ as _optimizers_all
from gradtx.schedules import *  # noqa: F403 - listed in schedules/__init__.py
from gradtx.schedules import __all__ as _schedules_all
from gradtx.second_order import LeastSquaresResult as LeastSquaresResult
from gradtx.second_order import MinimizeResult as MinimizeResult
from gradtx.second_order import Status as Status
from gradtx.second_order import bfgs as bfgs
from gradtx.second_order import gauss_newton_vector_product as gauss_newton_vector_product
from gradtx.second_order import hessian_free as hessian_free
from gradtx.second_order import hessian_vector_product as hessian_vector_product
from gradtx.second_order import lbfgs as lbfgs
from gradtx.second_order import least_squares as least_squares
from gradtx.second_order import minimize as minimize
from gradtx.second_order import newton as newton
from gradtx.second_order import nonlinear_cg as nonlinear_cg
from gradtx.second_order import scale_by_backtracking_linesearch as scale_by_backtracking_linesearch
from gradtx.second_order import scale_by_bfgs as scale_by_bfgs
from gradtx.second_order import scale_by_lbfgs as scale_by_lbfgs
from gradtx.second_order import scale_by_newton as scale_by_newton
from gradtx.second_order import scale_by_nonlinear_cg as scale_by_nonlinear_cg
from gradtx.second_order import scale_by_zoom_linesearch as scale_by_zoom_linesearch
from gradtx.second_order import value_and_grad_from_state as value_and_grad_from_state
from gradtx.transforms import *  # noqa: F403 - the primitives, listed in transforms/__init__.py
from gradtx.transforms import __all__ as _transforms_all
from gradtx.utils import LRRangeResult as LRRangeResult
from gradtx.utils import StateBytes as StateBytes
from gradtx.utils import lr_range_test as lr_range_test
from gradtx.utils import state_bytes as state_bytes
from gradtx.wrappers import *  # noqa: F403 - listed in wrappers/__init__.py
from gradtx.wrappers import __all__ as _wrappers_all

__all__ = sorted(
    {name for name in dir() if not name.startswith("_")} - {"annotations"}
    | set(_optimizers_all)
    | set(_transforms_all)
    | set(_schedules_all)
    | set(_wrappers_all)
)
