"""Moment variants.

Methods that change the moments themselves rather than the preconditioner: ADOPT normalizes
the gradient by the *previous* second moment before the momentum
(:func:`gradtx.scale_by_lagged_rms`); AdEMAMix adds a slow EMA of the gradient to the fast
one (:func:`gradtx.add_slow_ema`), and its simplified form uses one long, unnormalized
momentum plus the current gradient; MADGRAD is momentumized dual averaging with a cube-root
denominator (:func:`gradtx.scale_by_dual_averaging`); lazy Adam (PyTorch's ``SparseAdam``)
moves, and updates the moments of, only the rows that received a gradient
(:func:`gradtx.lazy_rows`).
"""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import _hyper as hp
from gradtx import _tree
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    MaskOrFn,
    ScalarOrSchedule,
    Schedule,
    chain,
)
from gradtx._registry import optimizer
from gradtx.transforms._adaptive import scale_by_rms
from gradtx.transforms._decay import add_decayed_weights
from gradtx.transforms._moment_variants import (
    add_scaled_gradient,
    add_slow_ema,
    quarter_power,
    scale_by_dual_averaging,
    scale_by_lagged_rms,
)
from gradtx.transforms._momentum import ema, one_minus_power, trace
from gradtx.transforms._scaling import scale, scale_by_learning_rate, scale_by_schedule
from gradtx.transforms._sign import interpolated_ema
from gradtx.wrappers._lazy_rows import lazy_rows

__all__ = ["ademamix", "adopt", "lazy_adam", "madgrad", "simplified_ademamix"]


@optimizer(
    hyperparams={"use_clipping": hp.FLAG, "clip_value_fn": hp.function_of_step(0.0, optional=True)},
    example={"learning_rate": 0.03},
    optax="`optax.contrib.adopt`",
    pytorch="—",
)
def adopt(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.9999,
    eps: ScalarOrSchedule = 1e-6,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Schedule | float | None = quarter_power,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""ADOPT: momentum of gradients normalized by the *previous* second moment.

    $$x_t = \operatorname{clip}_{c_t}\!\Big(\frac{g_t}{\max(\sqrt{\nu_{t-1}}, \epsilon)}
    \Big),\quad m_t = \beta_1 m_{t-1} + (1-\beta_1) x_t,\quad
    \nu_t = \beta_2 \nu_{t-1} + (1-\beta_2) g_t^2,\quad w_{t+1} = w_t - \eta_t m_t$$

    with $\nu_0 = g_0^2$ and a zero first update (step 0 only initializes $\nu$), $c_t =
    t^{1/4}$ the clipping threshold at the 0-based step $t$, and no bias correction. The
    gradient is normalized *before* it enters the momentum, and by a second moment that
    does not contain it, which is what makes ADOPT converge for any $\beta_2$. With
    ``nesterov`` the step uses $\beta_1 m_t + (1-\beta_1) x_t$. It is
    ``chain(scale_by_lagged_rms(b2, eps, clip_value_fn), interpolated_ema(b, b1), lr)``
    with $b = \beta_1$ ($\beta_1^2$ with ``nesterov``). ``clip_value_fn`` is a function of
    the step, so it is kept as a schedule: its current value is readable with
    :func:`gradtx.get_hyperparams`.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, the smallest divisor (not added to the root).
      mu_dtype: dtype of $m$.
      nesterov: use the look-ahead step.
      use_clipping: clip the normalized gradient to $[-c_t, c_t]$ (recommended).
      clip_value_fn: $c_t$ as a function of the 0-based step (default $t^{1/4}$).
      nu_dtype: dtype of $\nu$ (default: the parameter's). The arithmetic is in at least
        float32, each moment rounded once on store (see ``docs/memory.md``).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any $\beta_2$ with the
      Optimal Rate", NeurIPS 2024, arXiv:2411.02853.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import adopt
      >>> tx = adopt(0.1)
      >>> u, s = tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))   # initializes nu
      >>> bool(u[0] == 0), [round(x, 4) for x in tx.update(jnp.array([3.0]), s)[0].tolist()]
      (True, [-0.01])
    """
    return chain(
        scale_by_lagged_rms(
            b2, eps, clip_value_fn if use_clipping else None, accumulator_dtype=nu_dtype
        ),
        interpolated_ema(b1 * b1 if nesterov else b1, b1, accumulator_dtype=mu_dtype),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    hyperparams={"b3": hp.DECAY, "alpha": hp.FINITE},
    example={"learning_rate": 0.01},
    optax="`optax.contrib.ademamix`",
    pytorch="—",
)
def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    *,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AdEMAMix: AdamW whose momentum mixes a fast and a slow EMA of the gradient.

    $$m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1-\beta_1) g_t,\quad
    m^{(2)}_t = \beta_3 m^{(2)}_{t-1} + (1-\beta_3) g_t,\quad
    \nu_t = \beta_2 \nu_{t-1} + (1-\beta_2) g_t^2,$$
    $$w_{t+1} = w_t - \eta_t\Big(\frac{m^{(1)}_t/(1-\beta_1^t) + \alpha\, m^{(2)}_t}
    {\sqrt{\nu_t/(1-\beta_2^t) + \epsilon_\text{root}} + \epsilon} + \lambda w_t\Big)$$

    The slow EMA ($\beta_3 \approx 1$, not bias-corrected) keeps gradients from tens of
    thousands of steps ago. It is ``chain(ema(b1), add_slow_ema(b3, alpha,
    source="gradient"), scale_by_rms(b2, source="gradient"), add_decayed_weights(weight_decay,
    mask), lr)``. $\beta_3$ and $\alpha$ may be schedules (the paper warms both up), like
    every hyperparameter.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$, the fast EMA.
      b2: $\beta_2 \in [0, 1)$, the second moment.
      b3: $\beta_3 \in [0, 1)$, the slow EMA.
      alpha: $\alpha$, the weight of the slow EMA.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      mu_dtype: dtype of both EMAs.
      nu_dtype: dtype of the second moment (see :func:`gradtx.adam`).
      weight_decay: $\lambda \ge 0$, decoupled (multiplied by $\eta_t$, as in Optax).
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster, Older",
      2024, arXiv:2409.03137, Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import ademamix
      >>> tx = ademamix(0.1, b3=0.5, alpha=2.0)
      >>> p = jnp.zeros(1)
      >>> [round(x, 4) for x in tx.update(jnp.array([3.0]), tx.init(p), p)[0].tolist()]
      [-0.2]
    """
    return chain(
        ema(b1, debias=True, accumulator_dtype=mu_dtype),
        add_slow_ema(b3, alpha, mu_dtype, source="gradient"),
        scale_by_rms(
            b2,
            eps,
            eps_in_sqrt=False,
            bias_correction=True,
            eps_root=eps_root,
            source="gradient",
            accumulator_dtype=nu_dtype,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    hyperparams={"alpha": hp.FINITE},
    example={"learning_rate": 0.003},
    optax="`optax.contrib.simplified_ademamix`",
    pytorch="—",
)
def simplified_ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.99,
    b2: ScalarOrSchedule = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Simplified AdEMAMix: one long, unnormalized momentum plus the current gradient.

    $$m_t = \beta_1 m_{t-1} + g_t,\quad \nu_t = \beta_2 \nu_{t-1} + (1-\beta_2) g_t^2,\quad
    w_{t+1} = w_t - \eta_t\Big(\frac{m_t + \alpha\, g_t}{\sqrt{\nu_t/(1-\beta_2^t) +
    \epsilon_\text{root}} + \epsilon} + \lambda w_t\Big)$$

    One buffer instead of AdEMAMix's two; $m$ is a sum (its scale is $1/(1-\beta_1)$), so
    the learning rate is correspondingly smaller. With $\alpha = 0$ it is Adam with
    $\eta' = \eta/(1-\beta_1)$ and no first-moment bias correction. It is
    ``chain(trace(b1), add_scaled_gradient(alpha), scale_by_rms(b2, source="gradient"),
    add_decayed_weights(weight_decay, mask), lr)``.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$, the decay of the momentum sum.
      b2: $\beta_2 \in [0, 1)$, the second moment.
      alpha: $\alpha$, the weight of the current gradient, a constant or a schedule.
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      weight_decay: $\lambda \ge 0$, decoupled (multiplied by $\eta_t$).
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
      mu_dtype, nu_dtype: the dtypes of $m$ and $\nu$, as in :func:`gradtx.adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Morwani et al., "Connections between Schedule-Free Optimizers,
      AdEMAMix, and Accelerated SGD Variants", 2025, arXiv:2502.02431; Pagliardini, Ablin &
      Grangier, "The AdEMAMix Optimizer: Better, Faster, Older", 2024.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import simplified_ademamix
      >>> tx = simplified_ademamix(0.1, alpha=1.0)
      >>> p = jnp.zeros(1)
      >>> [round(x, 4) for x in tx.update(jnp.array([3.0]), tx.init(p), p)[0].tolist()]
      [-0.2]
    """
    return chain(
        trace(b1, accumulator_dtype=mu_dtype),
        add_scaled_gradient(alpha),
        scale_by_rms(
            b2,
            eps,
            eps_in_sqrt=False,
            bias_correction=True,
            eps_root=eps_root,
            source="gradient",
            accumulator_dtype=nu_dtype,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@optimizer(
    example={"learning_rate": 0.01},
    optax="`optax.contrib.madgrad`",
    pytorch="—",
)
def madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: ScalarOrSchedule | None = 0.9,
    weight_decay: ScalarOrSchedule = 0.0,
    eps: ScalarOrSchedule = 1e-6,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""MADGRAD: momentumized dual averaging with a cube-root adaptive denominator.

    $$\lambda_k = (\eta_k + \epsilon)\sqrt{k+1},\quad s_{k+1} = s_k + \lambda_k g_k,\quad
    \nu_{k+1} = \nu_k + \lambda_k g_k^2,$$
    $$z_{k+1} = x_0 - \frac{s_{k+1}}{\nu_{k+1}^{1/3} + \epsilon},\qquad
    x_{k+1} = \beta\, x_k + (1-\beta)\, z_{k+1}$$

    with $g_k$ the gradient plus $\lambda_\text{wd} x_k$ (L2 weight decay, as the authors'
    default and Optax), $k$ the 0-based step and $\beta$ = ``momentum``: the iterate is an
    EMA of the dual-averaging points. It is ``chain(add_decayed_weights(weight_decay),
    scale_by_dual_averaging(learning_rate, eps), scale(1 - momentum))``; the update is
    $(1-\beta)(z_{k+1} - x_k)$. $x_0$ is the parameters given to ``init``. The $\eta +
    \epsilon$ in $\lambda_k$ is the authors' guard against $\eta = 0$.
    **Difference from Optax:** Optax 0.2.8 computes $\sqrt{k+1}$ in float32 even for
    float64 parameters (an error of up to 6e-8 relative); gradtx in the working precision,
    as the authors' PyTorch code. In float32 the two agree.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      momentum: $\beta \in [0, 1)$.
      weight_decay: $\lambda_\text{wd} \ge 0$ (added to the gradient).
      eps: $\epsilon \ge 0$.
      mu_dtype, nu_dtype: dtypes of the stored sums $s$ and $\nu$ (default: the
        parameter's); see :func:`gradtx.scale_by_dual_averaging` for when that is safe.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters; its ``update``
      needs ``params``.

    References:
      Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
      Averaged Gradient Method for Stochastic Optimization", 2021, arXiv:2101.11075,
      Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import madgrad
      >>> tx = madgrad(1.0, momentum=0.5, eps=0.0)
      >>> p = jnp.zeros(1)
      >>> tx.update(jnp.array([8.0]), tx.init(p), p)[0].tolist()   # 0.5 * (-8 / 64^(1/3))
      [-1.0]
    """
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_dual_averaging(learning_rate, eps, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        scale(1 - momentum),
    )


@optimizer(
    hyperparams={
        "row_axis": hp.structural(optional=True, allowed="an axis (int), a tuple of axes, or None")
    },
    example={"learning_rate": 0.01},
    optax="—",
    pytorch="`SparseAdam`",
)
def lazy_adam(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    *,
    row_axis: int | tuple[int, ...] | None = 0,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Lazy Adam (PyTorch's ``SparseAdam``): only rows with a gradient move, and their moments.

    $$m_{t,r} = \beta_1 m_{t-1,r} + (1-\beta_1) g_{t,r},\quad
    \nu_{t,r} = \beta_2 \nu_{t-1,r} + (1-\beta_2) g_{t,r}^2,\quad
    w_{t+1,r} = w_{t,r} - \eta_t\,\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
    \frac{m_{t,r}}{\sqrt{\nu_{t,r}} + \epsilon}$$

    for the rows $r$ whose gradient has a nonzero entry; the other rows keep $w$, $m$ and
    $\nu$ (an embedding table's rows not looked up in the batch do not decay their
    moments). $t$ counts every step (one global count, as ``SparseAdam``), and $\epsilon$
    is added to the uncorrected root (PyTorch's form). It is
    ``chain(lazy_rows(chain(ema(b1), scale_by_rms(b2, eps, source="gradient"),
    scale_by_schedule(sqrt(1 - b2**t))), row_axis), lr)``. JAX gradients are dense, so a
    row "has a gradient" when it is not all zero: a row whose gradient is exactly zero is
    skipped where ``SparseAdam`` would decay its moments, if the sparse gradient listed it.
    Named after TensorFlow Addons' ``LazyAdam``: the arrays are dense, the update lazy.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      b1: $\beta_1 \in [0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, added to $\sqrt{\nu_t}$.
      row_axis: the axis that indexes rows (default 0), ``None`` (the whole leaf is one
        row), or a tree of them (a prefix of the params); see :func:`gradtx.lazy_rows`.
      mu_dtype, nu_dtype: dtypes of $m$ and $\nu$ (default: the parameter's), as in
        :func:`gradtx.adam`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
      arXiv:1412.6980 (section 2, the $\hat\epsilon$ form); PyTorch's
      ``torch.optim.SparseAdam``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import lazy_adam
      >>> tx = lazy_adam(0.1)
      >>> g = jnp.array([[3.0, 1.0], [0.0, 0.0]])       # row 1 is not looked up
      >>> [[round(x, 4) + 0.0 for x in row] for row in tx.update(g, tx.init(g))[0].tolist()]
      [[-0.1, -0.1], [0.0, 0.0]]
    """

    def root_correction(count):  # sqrt(1 - b2^t) at the 1-based step t
        return jnp.sqrt(one_minus_power(b2, _tree.safe_increment(count)))

    rms = scale_by_rms(b2, eps, eps_in_sqrt=False, source="gradient", accumulator_dtype=nu_dtype)
    first = ema(b1, debias=True, accumulator_dtype=mu_dtype)
    moments = chain(first, rms, scale_by_schedule(root_correction))
    return chain(lazy_rows(moments, row_axis), scale_by_learning_rate(learning_rate))
