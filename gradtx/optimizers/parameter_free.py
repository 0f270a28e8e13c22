"""Learning-rate-free and schedule-free methods: schedule-free SGD/AdamW, Prodigy,
D-Adaptation, Mechanic, COCOB, DoG and DoWG; their ``learning_rate`` multiplies the
estimated step. Importing this module registers them in ``gradtx.OPTIMIZERS``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx._base import GradientTransformation, chain
from gradtx._validate import check_int
from gradtx.optimizers._registry import optimizer
from gradtx.optimizers.adam import adam
from gradtx.transforms.adaptive import scale_by_rms
from gradtx.transforms.decay import add_decayed_weights
from gradtx.transforms.online_learning import scale_by_cocob, scale_by_mechanic, schedule_free
from gradtx.transforms.parameter_free import (
    scale_by_dadapt_adam,
    scale_by_dog,
    scale_by_dowg,
    scale_by_prodigy,
)
from gradtx.transforms.scaling import scale, scale_by_learning_rate

_MECHANIC_EXAMPLE = {"base_optimizer": adam(1.0), "s_init": 1e-3}  # 1e-6 steps vanish in bf16


def _warmed_up(learning_rate: Any, warmup_steps: int | None) -> Any:
    """$\\eta \\min(1, (t+1)/T)$ at step $t = 0, 1, \\dots$ (the authors' linear warm-up)."""
    check_int("warmup_steps", 0 if warmup_steps is None else warmup_steps, 0)
    if not warmup_steps:
        return learning_rate
    lr = jnp.asarray(learning_rate)
    return lambda count: lr * jnp.minimum(1, (count + 1).astype(lr.dtype) / warmup_steps)


@optimizer("parameter_free", static=("warmup_steps",), example={"learning_rate": 0.1})
def schedule_free_sgd(
    learning_rate: Any = 1.0,
    warmup_steps: int | None = None,
    b1: Any = 0.9,
    weight_decay: Any = None,
    weight_lr_power: Any = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    r"""Schedule-free SGD: SGD on $z$, evaluated at an interpolation with its average.

    With $d_t = g_t + \lambda y_t$ ($\lambda$ = ``weight_decay``):
    $$z_{t+1} = z_t - \eta_t d_t,\quad
    x_{t+1} = (1-c_{t+1}) x_t + c_{t+1} z_{t+1},\quad
    y_{t+1} = \beta_1 x_{t+1} + (1-\beta_1) z_{t+1},\quad
    c_{t+1} = \frac{\bar\eta_t^{\,p}}{\sum_{k\le t} \bar\eta_k^{\,p}}$$

    with the gradient at $y_t$, $y$ the parameters handed back and $x$ the point to evaluate,
    ``schedule_free_eval_params(state, params)``; $\bar\eta_t = \max_{k\le t}\eta_k$ and
    $\eta_t = \eta\min(1, (t+1)/T)$, $T$ = ``warmup_steps``. It is ``schedule_free(chain(
    [add_decayed_weights(wd)], scale_by_learning_rate(lr)), lr, b1, weight_lr_power)``.
    **Difference from Optax:** the authors' warm-up (Optax 0.2.8's first step is zero; see
    :func:`~gradtx.transforms.online_learning.schedule_free`).

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      warmup_steps: $T$, the length of the linear warm-up (``None`` or 0: none).
      b1: $\beta_1 \in (0, 1)$.
      weight_decay: $\lambda \ge 0$ at $y$, or ``None``.
      weight_lr_power: $p \ge 0$.
      state_dtype: dtype of $z$ (default: the parameters').

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled",
      NeurIPS 2024, arXiv:2405.15682.

    Example:
      >>> import jax.numpy as jnp, gradtx.optimizers.parameter_free as pf
      >>> tx, p = pf.schedule_free_sgd(0.1), jnp.ones(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)  # -0.1 * 2
      -0.2
    """
    lr = _warmed_up(learning_rate, warmup_steps)
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay)]
    base = chain(*decay, scale_by_learning_rate(lr))
    return schedule_free(base, lr, b1, weight_lr_power, state_dtype)


@optimizer("parameter_free", static=("warmup_steps",), example={"learning_rate": 0.05})
def schedule_free_adamw(
    learning_rate: Any = 0.0025,
    warmup_steps: int | None = None,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    weight_decay: Any = 0.0,
    weight_lr_power: Any = 2.0,
    state_dtype: Any = None,
) -> GradientTransformation:
    r"""Schedule-free AdamW: momentum-free AdamW on $z$, evaluated at an interpolation.

    $$d_t = \frac{g_t}{\sqrt{\nu_t/(1-\beta_2^t)} + \epsilon} + \lambda y_t,\qquad
    \nu_t = \beta_2\nu_{t-1} + (1-\beta_2) g_t^2$$

    and $z$, $x$, $y$ as in ``schedule_free_sgd`` (with its warm-up): ``schedule_free(chain(
    scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True), add_decayed_weights(wd),
    scale_by_learning_rate(lr)), lr, b1, weight_lr_power)``.

    Args:
      learning_rate: $\eta \ge 0$, a constant or a schedule.
      warmup_steps: $T$, the length of the linear warm-up (``None`` or 0: none).
      b1: $\beta_1 \in (0, 1)$.
      b2: $\beta_2 \in [0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      weight_decay: $\lambda \ge 0$, at $y$.
      weight_lr_power: $p \ge 0$.
      state_dtype: dtype of $z$ (default: the parameters').

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024, arXiv:2405.15682.

    Example:
      >>> import jax.numpy as jnp, gradtx.optimizers.parameter_free as pf
      >>> tx, p = pf.schedule_free_adamw(0.1), jnp.ones(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)
      -0.1
    """
    lr = _warmed_up(learning_rate, warmup_steps)
    base = chain(
        scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(lr),
    )
    return schedule_free(base, lr, b1, weight_lr_power, state_dtype)


@optimizer("parameter_free", example={"learning_rate": 1.0, "estim_lr0": 1e-3})
def prodigy(
    learning_rate: Any = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    beta3: Any = None,
    eps: Any = 1e-8,
    estim_lr0: Any = 1e-6,
    estim_lr_coef: Any = 1.0,
    weight_decay: Any = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    r"""Prodigy: Adam whose step $d_t$ estimates the distance to the solution, fast.

    $$d_{t+1} = \max\Big(d_t,\ c\,\frac{\sum_{k\le t}\beta_3^{t-k}\,\tfrac{d_k}{d_0}\gamma_k
    \langle g_k, x_0 - x_k\rangle}{\lVert s_t\rVert_1}\Big),\qquad
    x_{t+1} = x_t - \gamma_t\Big(\frac{m_t}{\sqrt{v_t} + d_{t+1}\epsilon} + \lambda x_t\Big)$$

    with $m_t$, $v_t$ the EMAs of $d_t g_t$, $d_t^2 g_t^2$, $s_t$ the $\beta_3$-EMA of
    $\frac{d_t}{d_0}\gamma_t g_t$ and $\gamma_t = \eta_t d_t\sqrt{1-\beta_2^t}/(1-\beta_1^t)$:
    ``chain(scale_by_prodigy(...), scale(-1))``, see
    :func:`~gradtx.transforms.parameter_free.scale_by_prodigy` (and for the NaN Optax gives).

    Args:
      learning_rate: $\eta_t \ge 0$, the multiplier of the estimated step, or a schedule.
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$ (fixed at construction).
      beta3: $\beta_3 \in [0, 1)$, or ``None`` for $\sqrt{\beta_2}$.
      eps: $\epsilon \ge 0$.
      estim_lr0: $d_0 > 0$.
      estim_lr_coef: $c > 0$.
      weight_decay: $\lambda \ge 0$ (decoupled).
      safeguard_warmup: leave $\eta_t$ out of $s_t$.

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
      ICML 2024, arXiv:2306.06101.

    Example:
      >>> import jax.numpy as jnp, gradtx.optimizers.parameter_free as pf
      >>> tx, p = pf.prodigy(), jnp.ones(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 9)  # -d0
      -1e-06
    """
    args = (eps, estim_lr0, estim_lr_coef, weight_decay, safeguard_warmup)
    return chain(scale_by_prodigy(learning_rate, betas, beta3, *args), scale(-1.0))


@optimizer("parameter_free", example={"learning_rate": 1.0})
def dadapt_adamw(
    learning_rate: Any = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    eps: Any = 1e-8,
    estim_lr0: Any = 1e-6,
    weight_decay: Any = 0.0,
) -> GradientTransformation:
    r"""D-Adapted AdamW: Adam whose step $d_t$ is a lower bound on the distance to the solution.

    $$d_{t+1} = \max\Big(d_t,\ \frac{\sum_{k\le t}\sqrt{\beta_2}^{\,t-k}(1-\sqrt{\beta_2})
    \gamma_k \langle g_k, s_{k-1}/(\sqrt{v_{k-1}}+\epsilon)\rangle}{(1-\sqrt{\beta_2})
    \lVert s_t\rVert_1}\Big),\qquad
    x_{t+1} = x_t - \frac{m_t}{\sqrt{v_t} + \epsilon} - \lambda\gamma_t x_t$$

    with $m_t$, $v_t$ the EMAs of $\gamma_t g_t$, $g_t^2$, $s_t$ the $\sqrt{\beta_2}$-EMA of
    $\gamma_t g_t$, $\gamma_t = \eta_t d_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)$: ``chain(
    scale_by_dadapt_adam(...), scale(-1))``, see
    :func:`~gradtx.transforms.parameter_free.scale_by_dadapt_adam`.

    Args:
      learning_rate: $\eta_t \ge 0$, the multiplier of the estimated step, or a schedule.
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$ (fixed at construction).
      eps: $\epsilon \ge 0$.
      estim_lr0: $d_0 > 0$.
      weight_decay: $\lambda \ge 0$ (decoupled).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023,
      arXiv:2301.07733.

    Example:
      >>> import jax.numpy as jnp, gradtx.optimizers.parameter_free as pf
      >>> tx, p = pf.dadapt_adamw(eps=0.0), jnp.ones(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 9)  # -d0
      -1e-06
    """
    tx = scale_by_dadapt_adam(learning_rate, betas, eps, estim_lr0, weight_decay)
    return chain(tx, scale(-1.0))


@optimizer("parameter_free", static=("num_betas",), example=_MECHANIC_EXAMPLE)
def mechanize(
    base_optimizer: Any,
    weight_decay: Any = 1e-2,
    eps: Any = 1e-8,
    s_init: Any = 1e-6,
    num_betas: int = 6,
) -> GradientTransformation:
    r"""Mechanic: learn the scale of a base optimizer's updates by coin betting.

    $$x_{t+1} = x_0 + S_{t+1}\sum_{k \le t} u^\text{base}_k,\qquad
    S_{t+1} = \sum_\beta s^{(\beta)}_{t+1}$$

    where $s^{(\beta)}$ bets on $h_t = \langle g_t, \sum_k u^\text{base}_k\rangle$ (with a
    decay $\lambda$), $\beta = 1 - 10^{-k}$, $k = 1..n$: it is
    :func:`~gradtx.transforms.online_learning.scale_by_mechanic`, which gives the full rule.

    Args:
      base_optimizer: the optimizer to tune (fixed at construction), with its learning rate
        at 1.0 (or a schedule peaking at 1.0), e.g. ``gradtx.adam(1.0)``.
      weight_decay: $\lambda \ge 0$, on Mechanic's own gradient only.
      eps: $\epsilon \ge 0$.
      s_init: $s_\text{init} > 0$, the initial scale.
      num_betas: $n \ge 1$ (fixed at construction).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters (and the base's).

    References:
      Cutkosky, Defazio & Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023,
      arXiv:2306.00144.

    Example:
      >>> import jax.numpy as jnp, gradtx, gradtx.optimizers.parameter_free as pf
      >>> tx = pf.mechanize(gradtx.sgd(1.0))
      >>> sorted(gradtx.get_hyperparams(tx.init(jnp.ones(2))))
      ['eps', 'learning_rate', 's_init', 'weight_decay']
    """
    return scale_by_mechanic(base_optimizer, weight_decay, eps, s_init, num_betas)


@optimizer("parameter_free", static=("eps",), example={"learning_rate": 1.0})
def cocob(
    learning_rate: Any = 1.0,
    alpha: Any = 100.0,
    eps: Any = 1e-8,
    weight_decay: Any = 0.0,
    mask: Any = None,
) -> GradientTransformation:
    r"""COCOB-Backprop: a coin-betting optimizer without a learning rate.

    $$x_{t+1} = x_0 - \frac{\sum_{k\le t} g_k}{L_t \max(G_t + L_t, \alpha L_t)}\,(L_t + R_t)$$

    per coordinate, with $g_k$ the gradient times $\eta_k$ plus $\lambda x_k$, $L_t$ the
    largest $|g_k|$, $G_t = \sum |g_k|$ and $R_t$ the reward (see
    :func:`~gradtx.transforms.online_learning.scale_by_cocob`). It is
    ``chain(add_decayed_weights(wd, mask), scale_by_learning_rate(lr, flip_sign=False),
    scale_by_cocob(alpha, eps))``, as in Optax.

    Args:
      learning_rate: $\eta_t \ge 0$, a multiplier of the gradients, or a schedule.
      alpha: $\alpha > 0$.
      eps: $\epsilon > 0$, the initial $L$ (fixed at construction).
      weight_decay: $\lambda \ge 0$ (L2, in the gradient).
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Orabona & Tommasi, "Training Deep Networks without Learning Rates Through Coin
      Betting", NeurIPS 2017, arXiv:1705.07795.

    Example:
      >>> import jax.numpy as jnp, gradtx.optimizers.parameter_free as pf
      >>> tx, p = pf.cocob(), jnp.zeros(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)
      -0.01
    """
    lr = scale_by_learning_rate(learning_rate, flip_sign=False)
    return chain(add_decayed_weights(weight_decay, mask), lr, scale_by_cocob(alpha, eps))


@optimizer("parameter_free", example={"learning_rate": 1.0, "init_step": ("heuristic", 1e-3)})
def dog(
    learning_rate: Any = 1.0,
    init_step: tuple[str, Any] = ("heuristic", 1e-6),
    eps: Any = 1e-8,
    weight_decay: Any = None,
    mask: Any = None,
) -> GradientTransformation:
    r"""DoG: SGD whose step is the largest distance travelled over the root of $\sum\|g\|^2$.

    $$x_{t+1} = x_t - \eta_t\,\frac{\max_{k\le t}\lVert x_k - x_0\rVert \vee r_\epsilon}
    {\sqrt{\sum_{k\le t}\lVert g_k\rVert^2 + \epsilon}}\, g_t$$

    with $\lambda x$ in $g$ if ``weight_decay`` is set: ``chain([add_decayed_weights(wd,
    mask)], scale_by_dog(init_step, eps), lr)``, see
    :func:`~gradtx.transforms.parameter_free.scale_by_dog` for ``init_step``.

    Args:
      learning_rate: $\eta_t \ge 0$, a multiplier, or a schedule.
      init_step: ``(tag, value)`` setting $r_\epsilon$ or the first step (fixed).
      eps: $\epsilon \ge 0$.
      weight_decay: $\lambda \ge 0$ or ``None``.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
      Schedule", ICML 2023, arXiv:2302.12022.

    Example:
      >>> import jax.numpy as jnp, gradtx.optimizers.parameter_free as pf
      >>> tx, p = pf.dog(init_step=("learning_rate", 0.1)), jnp.zeros(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)
      -0.2
    """
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay, mask)]
    return chain(*decay, scale_by_dog(init_step, eps), scale_by_learning_rate(learning_rate))


@optimizer("parameter_free", static=("init_estim_sq_dist",), example={"learning_rate": 1.0})
def dowg(
    learning_rate: Any = 1.0,
    init_estim_sq_dist: Any = None,
    eps: Any = 1e-4,
    weight_decay: Any = None,
    mask: Any = None,
) -> GradientTransformation:
    r"""DoWG: DoG with the squared gradient norms weighted by the squared distance.

    $$\bar r_t^2 = \max_{k\le t}\lVert x_k - x_0\rVert^2,\qquad
    x_{t+1} = x_t - \eta_t\,\frac{\bar r_t^2}
    {\sqrt{\sum_{k\le t}\bar r_k^2\lVert g_k\rVert^2} + \epsilon}\, g_t$$

    It is ``chain([add_decayed_weights(wd, mask)], scale_by_dowg(init_estim_sq_dist, eps),
    lr)``; see :func:`~gradtx.transforms.parameter_free.scale_by_dowg`.

    Args:
      learning_rate: $\eta_t \ge 0$, a multiplier, or a schedule.
      init_estim_sq_dist: $\bar r_0^2 > 0$, or ``None`` for $\epsilon$ (fixed).
      eps: $\epsilon \ge 0$.
      weight_decay: $\lambda \ge 0$ or ``None``.
      mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with live hyperparameters.

    References:
      Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal Parameter-Free
      Gradient Descent Method", NeurIPS 2023, arXiv:2305.16284.

    Example:
      >>> import jax.numpy as jnp, gradtx.optimizers.parameter_free as pf
      >>> tx, p = pf.dowg(init_estim_sq_dist=1.0, eps=0.0), jnp.zeros(1)
      >>> round(float(tx.update(jnp.array([2.0]), tx.init(p), p)[0][0]), 6)  # -1/2 * 2
      -1.0
    """
    decay = [] if weight_decay is None else [add_decayed_weights(weight_decay, mask)]
    lr = scale_by_learning_rate(learning_rate)
    return chain(*decay, scale_by_dowg(init_estim_sq_dist, eps), lr)
