r"""Matrix (Kronecker-factored) preconditioners.

Shampoo, SOAP and PSGD-Kron each treat a weight matrix $W \in \mathbb{R}^{m\times n}$ as
a matrix: its preconditioner is a Kronecker product $P = P_L \otimes P_R$ of an $m\times m$
and an $n\times n$ factor, which sees correlations between rows and between columns that no
diagonal method can. They are chains of the primitives of :mod:`gradtx.transforms` and
:mod:`gradtx.wrappers`:

* ``shampoo`` = ``chain(graft(scale_by_shampoo(...), <adam|adagrad|rmsprop|sgd>), ema(b1),
  add_decayed_weights, lr)``;
* ``soap`` = ``chain(change_basis(scale_by_adam(b1, b2, eps), kronecker_eigenbasis(...)),
  add_decayed_weights, lr)``;
* ``psgd_kron`` = ``chain(ema(b1), scale_by_psgd_kron(...), add_decayed_weights, lr)``.

Large matrices are cut into blocks, axes longer than ``max_precond_dim`` are left out and
1-D leaves are handled diagonally (see :func:`~gradtx.transforms._kronecker.plan_leaf`).
The math, the primitives, the cost model and measurements are on
[Matrix preconditioners](../matrix_preconditioners.md).
"""

from __future__ import annotations

from gradtx import _hyper as hp
from gradtx import _validate
from gradtx._base import (
    BatchDims,
    DTypeLike,
    GradientTransformation,
    KeyLike,
    MaskOrFn,
    Scalar,
    ScalarOrSchedule,
    chain,
    identity,
)
from gradtx._registry import optimizer
from gradtx.transforms._adaptive import scale_by_rms, scale_by_rss
from gradtx.transforms._composite import scale_by_adam
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._eigenbasis import kronecker_eigenbasis
from gradtx.transforms._momentum import ema
from gradtx.transforms._psgd import (
    psgd_update_probability,
    scale_by_psgd_kron,
    soft_trust_region,
)
from gradtx.transforms._scaling import scale_by_learning_rate
from gradtx.transforms._shampoo import scale_by_shampoo
from gradtx.wrappers._change_basis import change_basis
from gradtx.wrappers._graft import graft as graft_transform

__all__ = ["psgd_kron", "shampoo", "soap"]

GRAFTS = ("adam", "adagrad", "rmsprop", "sgd", None)
PSGD_UPDATE_PROBABILITY = psgd_update_probability()  # psgd_jax's default annealing


def graft_magnitude(
    kind: str | None,
    b2: ScalarOrSchedule,
    eps: ScalarOrSchedule,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""The diagonal transform whose per-block norm a Shampoo step takes.

    ``"adam"``: $g / (\sqrt{\hat\nu} + \epsilon)$ (bias-corrected RMS, no momentum);
    ``"rmsprop"``: $g / \sqrt{\nu + \epsilon}$; ``"adagrad"``: $g / \sqrt{\sum g^2 + \epsilon}$;
    ``"sgd"``: $g$. ``nu_dtype`` is the dtype of the stored statistic.
    """
    if kind == "adam":
        return scale_by_rms(
            b2, eps, eps_in_sqrt=False, bias_correction=True, accumulator_dtype=nu_dtype
        )
    if kind == "rmsprop":
        return scale_by_rms(b2, eps, accumulator_dtype=nu_dtype)
    if kind == "adagrad":
        return scale_by_rss(0.0, eps, accumulator_dtype=nu_dtype)
    return identity()


@optimizer(
    hyperparams={
        "matrix_eps": hp.NONNEGATIVE,
        "block_size": hp.count(1, optional=True),
        "max_precond_dim": hp.count(1),
        "precondition_frequency": hp.count(1),
        "start_preconditioning_step": hp.count(1),
        "inverse_root": hp.choice("eigh", "newton"),
        "graft": hp.choice(*GRAFTS[:-1], optional=True),
    },
    example={"learning_rate": 0.01},
    optax="—",
    pytorch="—",
)
def shampoo(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    matrix_eps: ScalarOrSchedule = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    *,
    block_size: int | None = 256,
    max_precond_dim: int = 1024,
    precondition_frequency: int = 20,
    start_preconditioning_step: int = 10,
    inverse_root: str = "eigh",
    graft: str | None = "adam",
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
    batch_dims: BatchDims = None,
) -> GradientTransformation:
    r"""Shampoo: Kronecker-factored inverse-root preconditioning, grafted onto Adam's step size.

    For each block $G$ of a matrix (see :func:`gradtx.scale_by_shampoo`):

    $$L_t = \beta_2 L_{t-1} + (1-\beta_2) G_t G_t^\top,\quad
    R_t = \beta_2 R_{t-1} + (1-\beta_2) G_t^\top G_t,\quad
    D_t = \tilde L^{-1/4} G_t \tilde R^{-1/4}$$
    $$S_t = D_t\,\frac{\|A_t\|}{\|D_t\|},\quad
    m_t = \beta_1 m_{t-1} + (1-\beta_1) S_t,\quad
    w_{t+1} = w_t - \eta_t\Big(\frac{m_t}{1-\beta_1^t} + \lambda w_t\Big)$$

    where $A_t$ is the graft's update of the block (Adam's $g/(\sqrt{\hat\nu}+\epsilon)$ by
    default) and $\tilde L^{-1/4}$ is refreshed every ``precondition_frequency`` steps from
    ``start_preconditioning_step`` on (before it, $S_t = A_t$). 1-D leaves get the diagonal
    form of the same rule, which grafting turns into (nearly) Adam. It is
    ``chain(graft(scale_by_shampoo(b2, matrix_eps, ...), graft_magnitude(graft),
    block_size=block_size), ema(b1), add_decayed_weights(weight_decay, mask), lr)``.

    Defaults: Gupta et al. sum the statistics ($\beta_2 = 1$), refresh every step and do not
    graft; Anil et al. (Distributed Shampoo) use $\beta_2 = 0.999$ (an EMA), Adam/RMSprop
    grafting, blocks of 128 to 1024, a root every 20 to 100 steps and
    ``matrix_eps = 1e-6``; the defaults here follow them with blocks of 256, which keeps a
    whole training step of a 784-512-512-10 MLP within 1.5x of AdamW's on a CPU (see the
    docs). ``b2`` is in $[0, 1)$ here (the library-wide range of ``b2``); the sum form is
    ``scale_by_shampoo(b2=1.0)``. Weight decay is decoupled, as in AdamW.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$, the momentum of the grafted update.
      b2: $\beta_2 \in [0, 1)$, the EMA of the statistics and of the graft's $\nu$.
      eps: $\epsilon \ge 0$ of the graft.
      matrix_eps: the ridge $\ge 0$, relative to each statistic's largest eigenvalue.
      weight_decay: $\lambda \ge 0$.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
      block_size: cut axes longer than this into blocks (``None``: whole matrices).
      max_precond_dim: block axes longer than this get no matrix (one-sided or diagonal).
      precondition_frequency: steps between two root computations ($\ge 1$).
      start_preconditioning_step: the step of the first root ($\ge 1$).
      inverse_root: ``"eigh"`` or ``"newton"`` (coupled Newton iteration).
      graft: ``"adam"``, ``"adagrad"``, ``"rmsprop"``, ``"sgd"`` or ``None`` (the raw
        Shampoo direction; then ``start_preconditioning_step`` must be 1).
      mu_dtype: dtype of the stored momentum $m$ (default: the parameter's).
      nu_dtype: dtype of the grafted diagonal statistic (default: the parameter's). The
        Kronecker statistics $L$, $R$ and their roots stay in the parameter's dtype: the
        inverse roots amplify their rounding errors.
      batch_dims: leading axes that index stacked layers (:mod:`~gradtx.transforms._batch_dims`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML
      2018, arXiv:1802.09568; Anil, Gupta, Koren, Regan & Singer, "Scalable Second Order
      Optimization for Deep Learning", 2020, arXiv:2002.09018.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.shampoo(0.1, start_preconditioning_step=1)
      >>> w = jnp.ones((3, 2))
      >>> u, _ = tx.update(jnp.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]), tx.init(w), w)
      >>> [round(float(x), 3) + 0.0 for x in u.ravel()]  # Adam's step norm, Shampoo's direction
      [-0.1, 0.0, 0.0, -0.1, 0.0, 0.0]
    """
    _validate.check_choice("graft", graft, GRAFTS)
    if graft is None and start_preconditioning_step != 1:
        raise ValueError(
            "shampoo: with graft=None, start_preconditioning_step must be 1 (there is no "
            f"graft to take the steps before the first root), got {start_preconditioning_step}."
        )
    direction = scale_by_shampoo(
        1.0 if graft == "adagrad" else b2,
        matrix_eps,
        block_size,
        max_precond_dim,
        precondition_frequency,
        start_preconditioning_step,
        inverse_root,
        batch_dims=batch_dims,
    )
    if graft is not None:
        magnitude = graft_magnitude(graft, b2, eps, nu_dtype)
        blocks = dict(block_size=block_size, max_precond_dim=max_precond_dim, batch_dims=batch_dims)
        direction = graft_transform(direction, magnitude, **blocks)
    return chain(
        direction,
        ema(b1, accumulator_dtype=mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    hyperparams={
        "shampoo_b2": hp.live(0.0, 1.0, high_open=True, optional=True),
        "precondition_frequency": hp.count(1),
        "max_precond_dim": hp.count(1),
        "block_size": hp.count(1, optional=True),
    },
    example={"learning_rate": 0.003},
    optax="—",
    pytorch="—",
)
def soap(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.95,
    b2: ScalarOrSchedule = 0.95,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.01,
    mask: MaskOrFn = None,
    shampoo_b2: ScalarOrSchedule | None = None,
    *,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    block_size: int | None = None,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
    batch_dims: BatchDims = None,
) -> GradientTransformation:
    r"""SOAP: Adam run in the eigenbasis of Shampoo's statistics.

    For each block $G$, with $Q_L, Q_R$ the eigenvectors of $L = \mathrm{EMA}(GG^\top)$ and
    $R = \mathrm{EMA}(G^\top G)$ (an ``eigh`` at the first step, then one QR power step every
    ``precondition_frequency`` steps; :func:`gradtx.kronecker_eigenbasis`):

    $$\tilde G_t = Q_L^\top G_t Q_R,\quad \tilde m_t = \mathrm{EMA}_{\beta_1}(\tilde G),\quad
    \tilde\nu_t = \mathrm{EMA}_{\beta_2}(\tilde G^2),\quad
    w_{t+1} = w_t - \eta_t\Big(Q_L\,\frac{\hat{\tilde m}_t}{\sqrt{\hat{\tilde\nu}_t} + \epsilon}
    \,Q_R^\top + \lambda w_t\Big)$$

    It is ``chain(change_basis(scale_by_adam(b1, b2, eps), kronecker_eigenbasis(shampoo_b2,
    precondition_frequency, max_precond_dim, block_size)), add_decayed_weights(weight_decay,
    mask), lr)``: the combinator re-expresses Adam's moments when the basis is refreshed
    ($m$ exactly, which is the paper's "momentum in the original space"; $\nu$ by the squared
    rotation, see :func:`gradtx.change_basis`). 1-D leaves and axes longer than
    ``max_precond_dim`` are not rotated (plain Adam there).

    Defaults are the paper's (lr 3e-3, $\beta = (0.95, 0.95)$, weight decay 0.01, refresh
    every 10 steps, ``max_precond_dim`` 10000, no blocking). Differences from the paper's
    code, each below 1e-3 relative on the test problems (see ``tests/test_kronecker.py``): the
    first step is taken (the paper only initializes the basis at step 1), $\epsilon$ is
    added to $\sqrt{\hat\nu}$ (Adam's convention; the paper adds it to $\sqrt{\nu}$), the
    decay is $\eta\lambda w_t$ before the step (AdamW's; the paper decays after it), and
    $\nu$ is re-expressed at a refresh instead of only permuted.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$.
      weight_decay: $\lambda \ge 0$.
      mask: which leaves to decay.
      shampoo_b2: the EMA of the statistics in $[0, 1)$ (``None``: ``b2``, as the paper).
      precondition_frequency: steps between two basis refreshes ($\ge 1$).
      max_precond_dim: block axes longer than this are not rotated.
      block_size: cut axes longer than this into blocks (``None``: whole matrices).
      mu_dtype, nu_dtype: dtypes of Adam's moments in the eigenbasis (default: the
        parameter's). The statistics and the eigenbasis stay in the parameter's dtype.
      batch_dims: leading axes that index stacked layers (:mod:`~gradtx.transforms._batch_dims`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Vyas, Morwani, Zhao, Shapira, Brandfonbrener, Janson & Kakade, "SOAP: Improving and
      Stabilizing Shampoo using Adam", ICLR 2025, arXiv:2409.11321.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.soap(0.1, weight_decay=0.0)
      >>> w = jnp.zeros((2, 2))
      >>> u, _ = tx.update(jnp.array([[3.0, 0.0], [0.0, 1.0]]), tx.init(w), w)
      >>> [round(float(x), 4) + 0.0 for x in u.ravel()]  # Adam's first step in the eigenbasis
      [-0.1, 0.0, 0.0, -0.1]
    """
    basis = kronecker_eigenbasis(
        b2 if shampoo_b2 is None else shampoo_b2,
        precondition_frequency,
        max_precond_dim,
        block_size,
        batch_dims,
    )
    return chain(
        change_basis(scale_by_adam(b1, b2, eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype), basis),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    hyperparams={
        "preconditioner_update_probability": hp.live(0.0, 1.0, optional=True),
        "max_size_triangular": hp.count(1),
        "precond_lr": hp.NONNEGATIVE,
        "precond_init_scale": hp.fixed(0.0, low_open=True),
        "trust_region_scale": hp.live(0.0, low_open=True, optional=True),
        "cache_preconditioner": hp.FLAG,
    },
    example={"learning_rate": 0.01},
    optax="—",
    pytorch="—",
)
def psgd_kron(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    preconditioner_update_probability: ScalarOrSchedule | None = None,
    max_size_triangular: int = 8192,
    precond_lr: ScalarOrSchedule = 0.1,
    precond_init_scale: Scalar = 1.0,
    key: KeyLike = 0,
    trust_region_scale: ScalarOrSchedule | None = 1.5,
    *,
    mu_dtype: DTypeLike | None = None,
    cache_preconditioner: bool = False,
    batch_dims: BatchDims = None,
) -> GradientTransformation:
    r"""PSGD-Kron: momentum preconditioned by a Kronecker product fitted on a Lie group.

    $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad h_t = \frac{m_t}{1-\beta_1^t},\quad
    w_{t+1} = w_t - \eta_t\big(\tau(P_t h_t) + \lambda w_t\big),\quad
    P_t = \textstyle\bigotimes_i Q_{i,t}^\top Q_{i,t}$$

    where the factors $Q_i$ (triangular; diagonal for axes longer than
    ``max_size_triangular`` and for 1-D leaves) are fitted to $P\,\mathbb E[h h^\top]\,P = I$
    on the momentum, with probability $p_t$ per step (:func:`gradtx.scale_by_psgd_kron`), and
    $\tau$ is psgd_jax's soft trust region (:func:`gradtx.soft_trust_region`). It is
    ``chain(ema(b1), scale_by_psgd_kron(...), soft_trust_region(trust_region_scale),
    add_decayed_weights(weight_decay, mask), lr)``. The defaults are psgd_jax's (``kron``):
    $\beta_1 = 0.9$, $\mu = 0.1$, $p_t$ = 1 for 250 steps then annealed to 0.03
    (:func:`~gradtx.transforms._psgd.psgd_update_probability`), trust region at 1.5.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      weight_decay: $\lambda \ge 0$.
      mask: which leaves to decay.
      preconditioner_update_probability: $p \in [0, 1]$, a constant or a schedule (live);
        ``None``: psgd_jax's annealing, evaluated on the preconditioner's own step count.
      max_size_triangular: axes longer than this get diagonal factors.
      precond_lr: $\mu \ge 0$, the factors' step size.
      precond_init_scale: the initial scale of $P$ ($> 0$).
      key: an int seed or a JAX key (noise and coin flips; kept in the state).
      trust_region_scale: $s > 0$ of the trust region, or ``None`` for none.
      mu_dtype: dtype of the stored momentum (default: the parameter's). The Kronecker
        factors $Q$ stay in the parameter's dtype.
      cache_preconditioner: also keep $Q_i^\top Q_i$ in the state, so that a step applies
        $P$ with half the products, for the factors' bytes once more (heavyball's
        ``cached``; see :func:`gradtx.scale_by_psgd_kron`).
      batch_dims: leading axes that index stacked layers (:mod:`~gradtx.transforms._batch_dims`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Li, "Preconditioned Stochastic Gradient Descent", IEEE TNNLS 2018, arXiv:1512.04202;
      Li, "Preconditioner on Matrix Lie Group for SGD", ICLR 2019, arXiv:1809.10232.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.psgd_kron(0.1, precond_lr=0.0, trust_region_scale=None)  # momentum SGD
      >>> w = jnp.zeros((2, 2))
      >>> u, _ = tx.update(jnp.ones((2, 2)), tx.init(w), w)
      >>> [round(float(x), 4) for x in u.ravel()]
      [-0.1, -0.1, -0.1, -0.1]
    """
    return chain(
        ema(b1, accumulator_dtype=mu_dtype),
        scale_by_psgd_kron(
            PSGD_UPDATE_PROBABILITY
            if preconditioner_update_probability is None
            else preconditioner_update_probability,
            max_size_triangular,
            precond_lr,
            precond_init_scale,
            key,
            cache_preconditioner,
            batch_dims,
        ),
        identity() if trust_region_scale is None else soft_trust_region(trust_region_scale),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
