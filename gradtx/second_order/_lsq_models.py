r"""The local Gauss–Newton models of :func:`~gradtx.second_order.least_squares`.

Both models work in scaled variables $z = D x$ ($D$ = ``diag(d)``), with the scaled Jacobian
$J_s = J D^{-1}$ and gradient $g = J_s^\top r$, and offer what the three methods need:

* ``lm(mu)`` -- the Levenberg–Marquardt step $c = -(J_s^\top J_s + \mu I)^{-1} g$ and
  $\|J_s c\|^2$;
* ``gn``, ``cp`` -- the Gauss–Newton step $c_{gn}$ (least-norm) and the Cauchy step
  $c_{cp} = -\alpha g$, $\alpha = \|g\|^2 / \|J_s g\|^2$, with the inner products
  ``dots`` $= (\|c_{cp}\|^2, c_{cp}^\top c_{gn}, \|c_{gn}\|^2)$ and ``quad`` $=
  (\|J_s c_{cp}\|^2, (J_s c_{cp})^\top J_s c_{gn}, \|J_s c_{gn}\|^2)$, so that any
  combination $a\,c_{cp} + b\,c_{gn}$ (a dogleg step) has a model value without a product;
* ``to_x(c)`` -- the step in $x$: $D^{-1}$ times $c$ (in the dense model $c$ lives in the
  basis of right singular vectors).

:func:`dense_model` forms $J$ (``jax.jacfwd`` or ``jax.jacrev`` of the raveled residual)
and one SVD $J_s = U \operatorname{diag}(s) V^\top$ per Jacobian; then every step is a
closed form in the $k = \min(m, n)$ singular coordinates. :func:`matrix_free_model`
linearizes the residual once (``jax.linearize`` and its transpose) and solves the normal
equations by CG with products $v \mapsto J_s^\top (J_s v) + \mu v$: one JVP and one VJP each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx.second_order._curvature import conjugate_gradient


class Model(NamedTuple):
    """A local model at $x$ (see the module); built inside the solver loop, never carried."""

    g: jax.Array  # the scaled gradient, in the model's coordinates
    gn: jax.Array
    cp: jax.Array
    dots: jax.Array  # (|cp|^2, cp.gn, |gn|^2)
    quad: jax.Array  # (|Js cp|^2, Js cp . Js gn, |Js gn|^2)
    lm: Callable[[jax.Array], tuple]  # mu -> (c, |Js c|^2, CG products)
    lm_radius: Callable[[jax.Array], tuple] | None  # radius -> (c, |Js c|^2, mu): Moré's
    to_x: Callable[[jax.Array], jax.Array]
    d: jax.Array  # the scaling used (updated by "jac" scaling)
    gtol_measure: jax.Array  # max_j |g_j| / ||r|| (the cosine of MINPACK with "jac" scaling)
    mu_scale: jax.Array  # max eigenvalue (estimate) of Js^T Js: mu_0 = tau * mu_scale
    jvps: jax.Array  # products made building the model
    vjps: jax.Array


def _gtol_measure(g, r):
    rn = jnp.linalg.norm(r)
    return jnp.where(rn > 0, jnp.max(jnp.abs(g)) / jnp.where(rn > 0, rn, 1), 0)


def _cauchy_scale(gg, jg2):
    return jnp.where(jg2 > 0, gg / jnp.where(jg2 > 0, jg2, 1), 0)


def dense_model(res: Callable, x: jax.Array, r: jax.Array, d: jax.Array, jac_scale: bool):
    """The dense model: $J$ formed (one Jacobian), one SVD of $J_s$."""
    m, n = r.size, x.size
    jac = jax.jacfwd(res) if n <= m else jax.jacrev(res)
    J = jac(x).reshape(m, n)
    if jac_scale:  # Moré's scaling: d_j = max over the iterations of the column norms
        cols = jnp.linalg.norm(J, axis=0)
        d = jnp.maximum(d, jnp.where(cols > 0, cols, 1))
    Js = J / d
    U, s, Vt = jnp.linalg.svd(Js, full_matrices=False)
    utr = U.T @ r
    g = s * utr  # V^T Js^T r
    cutoff = jnp.finfo(s.dtype).eps * max(m, n) * s[0]
    w = jnp.where(s > cutoff, 1 / jnp.where(s > cutoff, s, 1), 0)
    gn = -w * utr
    s2 = s * s
    cp = -_cauchy_scale(g @ g, s2 @ (g * g)) * g
    dots = jnp.stack([cp @ cp, cp @ gn, gn @ gn])
    quad = jnp.stack([s2 @ (cp * cp), s2 @ (cp * gn), s2 @ (gn * gn)])

    def lm(mu):
        c = -s * utr / (s2 + mu)
        return c, s2 @ (c * c), jnp.zeros([], jnp.int32)

    def lm_radius(radius):
        # Moré (1978): mu = 0 if |c_gn| <= 1.1 radius, else Newton's method on
        # 1/radius - 1/|c(mu)| from mu = 0 until | |c(mu)| - radius | <= 0.1 radius
        a2 = g * g

        def norms(mu):
            den = s2 + mu
            ok = den > 0
            cc = jnp.sum(jnp.where(ok, a2 / jnp.where(ok, den, 1) ** 2, 0))
            cube = jnp.sum(jnp.where(ok, a2 / jnp.where(ok, den, 1) ** 3, 0))
            return jnp.sqrt(cc), cube

        def far(k):
            return (jnp.abs(k[1] - radius) > 0.1 * radius) & (k[2] < 30)

        def newton(k):
            mu, cn, it = k
            _, cube = norms(mu)
            mu = mu + (cn / radius - 1) * cn**2 / jnp.where(cube > 0, cube, 1)
            mu = jnp.maximum(mu, 0)
            return mu, norms(mu)[0], it + 1

        gn_norm = jnp.sqrt(gn @ gn)
        use_gn = gn_norm <= 1.1 * radius
        zero = jnp.zeros([], s.dtype)
        mu = jax.lax.while_loop(
            lambda k: ~use_gn & far(k), newton, (zero, norms(zero)[0], jnp.zeros([], jnp.int32))
        )[0]
        c = jnp.where(use_gn, gn, -s * utr / jnp.where(s2 + mu > 0, s2 + mu, 1))
        mu = jnp.where(use_gn, 0, mu)
        return c, s2 @ (c * c), mu

    zero = jnp.zeros([], jnp.int32)
    return Model(
        g, gn, cp, dots, quad, lm, lm_radius, lambda c: (Vt.T @ c) / d, d,
        _gtol_measure(Js.T @ r, r), jnp.max(s2), zero, zero,
    )  # fmt: skip


def matrix_free_model(
    res: Callable,
    x: jax.Array,
    d: jax.Array,
    need_gn: bool,
    need_scale: jax.Array,
    max_cg: int,
    cg_rtol: float,
):
    """The matrix-free model: JVP/VJP products, CG on the normal equations."""
    r, jvp = jax.linearize(res, x)
    vjp = jax.linear_transpose(jvp, x)
    js = lambda v: jvp(v / d)
    jst = lambda u: vjp(u)[0] / d
    g = jst(r)
    gg = g @ g

    def normal_solve(mu):
        b = -g
        cg = conjugate_gradient(
            lambda v: jst(js(v)) + mu * v, b, jnp.zeros_like(g), None, max_cg, cg_rtol, 0.0
        )
        c = cg.x
        jtjc = b - cg.residual - mu * c  # Js^T Js c, from the CG residual: no product
        return c, jtjc, cg.products

    def lm(mu):
        c, jtjc, prods = normal_solve(mu)
        return c, c @ jtjc, prods

    if need_gn:  # Gauss-Newton and dogleg: one solve and one product per Jacobian
        gn, jtjgn, prods = normal_solve(jnp.zeros([], g.dtype))
        jg2 = jnp.sum(js(g) ** 2)
        alpha = _cauchy_scale(gg, jg2)
        cp = -alpha * g
        dots = jnp.stack([cp @ cp, cp @ gn, gn @ gn])
        quad = jnp.stack([alpha**2 * jg2, cp @ jtjgn, gn @ jtjgn])
        mu_scale = jnp.where(gg > 0, jg2 / jnp.where(gg > 0, gg, 1), 1)
        jvps, vjps = prods + 1, prods + 1
    else:  # Levenberg-Marquardt: the Rayleigh quotient along g sets mu_0 (first model only)
        gn = cp = jnp.zeros_like(g)
        dots = quad = jnp.zeros([3], g.dtype)

        def rayleigh():
            jg2 = jnp.sum(js(g) ** 2)
            return jnp.where(gg > 0, jg2 / jnp.where(gg > 0, gg, 1), 1).astype(g.dtype)

        mu_scale = jax.lax.cond(need_scale, rayleigh, lambda: jnp.ones([], g.dtype))
        jvps, vjps = need_scale.astype(jnp.int32), 1
    return Model(
        g, gn, cp, dots, quad, lm, None, lambda c: c / d, d, _gtol_measure(g, r), mu_scale,
        jnp.asarray(jvps, jnp.int32), jnp.asarray(vjps, jnp.int32),
    )  # fmt: skip


def dogleg(dots, radius):
    """Coefficients (a, b) of the dogleg step a c_cp + b c_gn inside the radius."""
    cc, cg, gg = dots[0], dots[1], dots[2]
    inside = gg <= radius**2
    cauchy_out = cc >= radius**2
    pp = cc - 2 * cg + gg  # |gn - cp|^2
    b2 = 2 * (cg - cc)
    c2 = cc - radius**2
    t = (-b2 + jnp.sqrt(jnp.maximum(b2 * b2 - 4 * pp * c2, 0))) / (2 * jnp.where(pp > 0, pp, 1))
    t = jnp.clip(t, 0, 1)
    a = jnp.where(
        inside, 0, jnp.where(cauchy_out, radius / jnp.sqrt(jnp.maximum(cc, 1e-300)), 1 - t)
    )
    b = jnp.where(inside, 1, jnp.where(cauchy_out, 0, t))
    return a.astype(dots.dtype), b.astype(dots.dtype)


def nielsen_damping(mu, nu, rho, accept):
    """Nielsen (1999): $\\mu \\max(1/3, 1 - (2\\rho - 1)^3)$, $\\nu = 2$ on a success, else
    $\\mu \\nu$, $2\\nu$."""
    shrink = jnp.maximum(1 / 3, 1 - (2 * rho - 1) ** 3)
    mu_new = jnp.where(accept, mu * shrink, mu * nu).astype(mu.dtype)
    return mu_new, jnp.where(accept, 2.0, 2 * nu).astype(nu.dtype)


def dogleg_radius(radius, step_norm, rho):
    """Madsen, Nielsen & Tingleff (2004), with the shrink taken from the step if shorter."""
    new = jnp.where(rho > 0.75, jnp.maximum(radius, 3 * step_norm), radius)
    return jnp.where(rho < 0.25, 0.5 * jnp.minimum(radius, step_norm), new).astype(radius.dtype)


def more_radius(radius, step_norm, mu, jc2, actred, rho, cost, ok, first):
    """MINPACK's (lmder's) radius update (Moré 1978); accept if $\\rho \\ge 10^{-4}$."""
    radius = jnp.where(first, jnp.minimum(radius, step_norm), radius)
    act = actred / cost  # MINPACK's relative reductions
    dirder = -(jc2 + mu * step_norm**2) / (2 * cost)
    denom = dirder + 0.5 * act
    temp = jnp.where(act >= 0, 0.5, 0.5 * dirder / jnp.where(denom != 0, denom, 1))
    temp = jnp.where(~ok | (act <= -99) | (temp < 0.1), 0.1, temp)  # |r_new| >= 10 |r|
    small = temp * jnp.minimum(radius, step_norm / 0.1)
    grow = jnp.where((mu == 0) | (rho >= 0.75), step_norm / 0.5, radius)
    return jnp.where(rho <= 0.25, small, grow).astype(radius.dtype), ok & (rho >= 1e-4)


def armijo_backtrack(slope, alpha, actred, change, ok):
    """Accept if $F$ fell by $10^{-4}\\alpha|g^\\top c_{gn}|$; else the minimizer of the quadratic
    through $F(0)$, the slope and $F(\\alpha)$, kept in $[0.1\\alpha, 0.5\\alpha]$."""
    accept = ok & (actred >= -1e-4 * alpha * slope) & (slope < 0)
    denom = 2 * (change - alpha * slope)
    guess = -slope * alpha**2 / jnp.where(denom > 0, denom, 1)
    guess = jnp.clip(jnp.where(ok & (denom > 0), guess, 0.1 * alpha), 0.1 * alpha, 0.5 * alpha)
    return accept, jnp.where(accept, 1.0, guess).astype(alpha.dtype)


def propose(method, rule, model, mu, radius, alpha):
    """The trial step $c$, the model decrease $L(0) - L(c)$, $\\|J_s c\\|^2$, the damping used
    and the CG products made."""
    prods = jnp.zeros([], jnp.int32)
    if method == "lm":
        if rule == "more":
            step, jc2, mu = model.lm_radius(radius)
        else:
            step, jc2, prods = model.lm(mu)
        return step, -(model.g @ step) - 0.5 * jc2, jc2, mu, prods
    a, b = dogleg(model.dots, radius) if method == "dogleg" else (jnp.zeros_like(alpha), alpha)
    step = a * model.cp + b * model.gn
    q = model.quad
    jc2 = a * a * q[0] + 2 * a * b * q[1] + b * b * q[2]
    return step, -(a * (model.g @ model.cp) + b * (model.g @ model.gn)) - 0.5 * jc2, jc2, mu, prods
