"""The optimizer families: one documentation page each, in this order.

A family lists the ``OptimizerInfo.family`` strings that belong to it (``keys``); the
optimizers themselves come from ``gradtx.OPTIMIZERS`` at build time, so a new optimizer
appears on its family's page without editing anything here. A family string that no entry
claims gets a page of its own (see ``_gen_pages.family_for``).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Family:
    slug: str  # the page: families/<slug>.md
    title: str
    keys: tuple[str, ...]  # OptimizerInfo.family strings shown on this page
    intro: str  # Markdown
    modules: tuple[str, ...] = ()  # gradtx.optimizers modules of this family, if any


FAMILIES: tuple[Family, ...] = (
    Family(
        "sgd",
        "Gradient descent and momentum",
        ("sgd",),
        r"""
The plainest update, $w_{t+1} = w_t - \eta_t\, g_t$, and the ways of adding a velocity to it.
The three forms of momentum differ only in the order of two primitives and in whether the
velocity is a sum or an average: `sgd` is `chain(trace, scale_by_learning_rate)` (PyTorch's
form), `heavy_ball` swaps the two, and `ema_momentum` averages with `ema`. The variants add
one primitive in front of the learning rate: gradient noise, Polyak's step size, or an
optimistic correction.
""",
    ),
    Family(
        "adaptive",
        "Adaptive learning rates",
        ("adaptive",),
        r"""
One step size per weight, from the history of that weight's gradient. AdaGrad divides by the
root of the *sum* of squared gradients, $\sqrt{\sum_s g_s^2}$, so its steps only shrink;
RMSprop divides by the root of an exponential *average*, $\sqrt{\mathrm{EMA}_\rho(g^2)}$, so it
forgets; AdaDelta multiplies by the root of an average of past squared *updates* as well,
which gives the update the units of the weights; Rprop ignores the gradient's magnitude and
grows or shrinks each weight's step by the sign agreement of consecutive gradients.
""",
    ),
    Family(
        "adam",
        "Adam and its variants",
        ("adam",),
        r"""
Momentum and an RMSprop-like scaling, both debiased:
$u_t = -\eta_t\, \hat m_t / (\sqrt{\hat\nu_t} + \epsilon)$ with
$m_t = \mathrm{EMA}_{\beta_1}(g)$ and $\nu_t = \mathrm{EMA}_{\beta_2}(g^2)$. Every variant keeps
`ema` for the first moment and changes the preconditioner that divides it: the maximum of
the second moments (AMSGrad), the infinity norm (Adamax), the variance around the mean
(AdaBelief), an additive update (Yogi), a rectification of the early steps (RAdam). A
`W` suffix adds decoupled weight decay, `add_decayed_weights`, after the scaling.
""",
    ),
    Family(
        "moment",
        "Moment variants",
        ("moment", "moments", "moment_variants"),
        r"""
Variants of the moments themselves: ADOPT normalizes the gradient by the *previous* second
moment before the momentum, AdEMAMix mixes a fast and a slow EMA, MADGRAD uses dual
averaging with a cube root, ASGD averages the iterates, and lazy Adam updates the moments of
the rows that received a gradient only.
""",
        ("gradtx.optimizers._moment_variants",),
    ),
    Family(
        "sign",
        "Sign-based methods",
        ("sign",),
        r"""
Steps of a fixed size per weight in the direction of the sign of a (smoothed) gradient:
$u_t = -\eta_t \operatorname{sign}(\cdot)$. `sign_sgd` takes the sign of the gradient,
`signum` of its EMA, and Lion of an interpolation between the momentum and the gradient.
Every weight moves by exactly $\eta_t$, so these methods want smaller learning rates than Adam.
""",
    ),
    Family(
        "layerwise",
        "Layer-wise (trust-ratio) methods",
        ("layerwise",),
        r"""
A step per *layer* (per parameter leaf) proportional to the layer's norm: the update is
rescaled by the trust ratio $\|w\| / \|u\|$, so that every layer moves by about the same
fraction of itself, whatever the scale of its gradient (LARS for SGD, LAMB for Adam). Fromage
and NovoGrad use per-layer norms in other ways.
""",
    ),
    Family(
        "factored",
        "Factored second moments",
        ("factored",),
        r"""
Adaptive methods whose second-moment statistics take less memory than the parameters:
Adafactor keeps a row and a column average of $g^2$ for each matrix and rebuilds the rest as
their outer product; SM3 keeps one accumulator per row and per column (per slice of each axis)
and takes the minimum cover. The *state per parameter* column below shows the saving.
""",
    ),
    Family(
        "kronecker",
        "Matrix (Kronecker-factored) preconditioners",
        ("kronecker",),
        r"""
Preconditioners that treat a weight matrix as a matrix: a Kronecker product $P_L \otimes P_R$
of a row and a column factor sees correlations that no per-weight method can. Shampoo takes
inverse fourth roots of $\sum GG^\top$ and $\sum G^\top G$ and borrows Adam's step size by
grafting; SOAP runs Adam in the eigenbasis of the same statistics; PSGD-Kron fits triangular
factors $Q$ with $P = Q^\top Q$ on a Lie group, without eigendecompositions. The math, the
primitives they are made of, the cost model and measurements are on
[Matrix preconditioners](../matrix_preconditioners.md).
""",
    ),
    Family(
        "contrib",
        "Structure-aware methods",
        ("contrib",),
        r"""
Methods that use more than per-weight statistics: Muon orthogonalizes the momentum of each
weight matrix (Newton–Schulz iterations), Sophia preconditions by an estimate of the diagonal
of the Hessian with clipping, and SAM takes its gradient at an adversarially perturbed point.
""",
        ("gradtx.optimizers._contrib",),
    ),
    Family(
        "parameter_free",
        "Parameter-free and schedule-free methods",
        ("parameter_free", "parameter-free"),
        r"""
Methods that estimate the step size (or the schedule) themselves: schedule-free SGD/AdamW
replace the learning-rate decay by an average of the iterates; Prodigy and D-Adaptation
estimate the distance to the solution $D$; Mechanic tunes a scale on top of any optimizer;
COCOB bets on coins; DoG uses the distance from the initial point over the gradient norms.
""",
        ("gradtx.optimizers._parameter_free",),
    ),
    Family(
        "gains",
        "Per-weight gains",
        ("gains", "gain_adaptation"),
        r"""
Learning-rate adaptation per weight from the agreement of successive gradients: local gains
grow a weight's gain additively while its gradient keeps its sign and shrink it
multiplicatively when it flips; delta-bar-delta does the same against an average of past
gradients; vSGD sets each weight's rate from estimates of the gradient's mean, variance and
curvature.
""",
        ("gradtx.optimizers._gain_adaptation",),
    ),
    Family(
        "loss_driven",
        "Loss-driven control and gradient-free baselines",
        ("loss_driven", "loss-driven"),
        r"""
Methods that watch the loss itself: the bold driver grows the learning rate after a step that
lowered the loss and shrinks it (and undoes the step) after one that raised it;
reduce-on-plateau lowers it when the loss stops improving. Random search and SPSA use loss
values only, no gradient: baselines that show what the gradient buys.
""",
        ("gradtx.optimizers._loss_driven",),
    ),
)

SPECIAL_PAGES = {
    "second_order": "Second order and full batch",
    "wrappers": "Wrappers",
    "schedules": "Schedules",
}
