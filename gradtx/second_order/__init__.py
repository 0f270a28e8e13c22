"""Full-batch and second-order methods (see ``docs/second_order.md``).

Line searches (:func:`scale_by_backtracking_linesearch`, :func:`scale_by_zoom_linesearch`),
search directions (:func:`scale_by_lbfgs`, :func:`scale_by_bfgs`,
:func:`scale_by_nonlinear_cg`, :func:`scale_by_newton`), their aliases (:func:`lbfgs`,
:func:`bfgs`, :func:`nonlinear_cg`, :func:`newton`), Hessian-free optimization
(:func:`hessian_free`, with matrix-free :func:`hessian_vector_product` and
:func:`gauss_newton_vector_product`), and the
:func:`minimize` driver, which runs any of them (or any gradtx/Optax transform) to a
gradient tolerance in one jitted loop, and nonlinear least squares (:func:`least_squares`:
Levenberg–Marquardt, dogleg, Gauss–Newton). Transforms tell a driver what each update evaluated
through a :class:`Report` in their state, read by :func:`report_of`.
"""

from gradtx.second_order._backtracking import (
    scale_by_backtracking_linesearch as scale_by_backtracking_linesearch,
)
from gradtx.second_order._bfgs import ScaleByBfgsState as ScaleByBfgsState
from gradtx.second_order._bfgs import bfgs as bfgs
from gradtx.second_order._bfgs import bfgs_inverse_update as bfgs_inverse_update
from gradtx.second_order._bfgs import scale_by_bfgs as scale_by_bfgs
from gradtx.second_order._cg import ScaleByNonlinearCgState as ScaleByNonlinearCgState
from gradtx.second_order._cg import cg_beta as cg_beta
from gradtx.second_order._cg import nonlinear_cg as nonlinear_cg
from gradtx.second_order._cg import scale_by_nonlinear_cg as scale_by_nonlinear_cg
from gradtx.second_order._curvature import CgResult as CgResult
from gradtx.second_order._curvature import conjugate_gradient as conjugate_gradient
from gradtx.second_order._curvature import (
    gauss_newton_vector_product as gauss_newton_vector_product,
)
from gradtx.second_order._curvature import hessian_vector_product as hessian_vector_product
from gradtx.second_order._hessian_free import HessianFreeState as HessianFreeState
from gradtx.second_order._hessian_free import hessian_free as hessian_free
from gradtx.second_order._lbfgs import ScaleByLbfgsState as ScaleByLbfgsState
from gradtx.second_order._lbfgs import lbfgs as lbfgs
from gradtx.second_order._lbfgs import scale_by_lbfgs as scale_by_lbfgs
from gradtx.second_order._lbfgs import two_loop as two_loop
from gradtx.second_order._least_squares import LeastSquaresResult as LeastSquaresResult
from gradtx.second_order._least_squares import LeastSquaresStatus as LeastSquaresStatus
from gradtx.second_order._least_squares import least_squares as least_squares
from gradtx.second_order._linesearch import LineSearchState as LineSearchState
from gradtx.second_order._linesearch import value_and_grad_from_state as value_and_grad_from_state
from gradtx.second_order._minimize import METHODS as METHODS
from gradtx.second_order._minimize import minimize as minimize
from gradtx.second_order._newton import ScaleByNewtonState as ScaleByNewtonState
from gradtx.second_order._newton import damped_newton_solve as damped_newton_solve
from gradtx.second_order._newton import newton as newton
from gradtx.second_order._newton import scale_by_newton as scale_by_newton
from gradtx.second_order._records import AcceptedPoint as AcceptedPoint
from gradtx.second_order._records import Report as Report
from gradtx.second_order._records import StepInfo as StepInfo
from gradtx.second_order._records import report_of as report_of
from gradtx.second_order._result import MinimizeResult as MinimizeResult
from gradtx.second_order._result import Status as Status
from gradtx.second_order._result import status_message as status_message
from gradtx.second_order._zoom import scale_by_zoom_linesearch as scale_by_zoom_linesearch

__all__ = [
    "METHODS",
    "AcceptedPoint",
    "CgResult",
    "HessianFreeState",
    "LeastSquaresResult",
    "LeastSquaresStatus",
    "LineSearchState",
    "MinimizeResult",
    "Report",
    "ScaleByBfgsState",
    "ScaleByLbfgsState",
    "ScaleByNewtonState",
    "ScaleByNonlinearCgState",
    "Status",
    "StepInfo",
    "bfgs",
    "bfgs_inverse_update",
    "cg_beta",
    "conjugate_gradient",
    "damped_newton_solve",
    "gauss_newton_vector_product",
    "hessian_free",
    "hessian_vector_product",
    "lbfgs",
    "least_squares",
    "minimize",
    "newton",
    "nonlinear_cg",
    "report_of",
    "scale_by_backtracking_linesearch",
    "scale_by_bfgs",
    "scale_by_lbfgs",
    "scale_by_newton",
    "scale_by_nonlinear_cg",
    "scale_by_zoom_linesearch",
    "status_message",
    "two_loop",
    "value_and_grad_from_state",
]
