r"""L-BFGS-B: the generalized Cauchy point and the subspace minimization of Byrd et al.

One iteration of L-BFGS-B on the box $\ell \le x \le u$ (flat vectors of length $n$), with
the limited-memory matrix in compact form (Byrd, Nocedal & Schnabel 1994)

$$B = \theta I - W M W^\top,\qquad W = [\,Y \ \ \theta S\,],\qquad
M = \begin{bmatrix} -D & L^\top \\ L & \theta S^\top S \end{bmatrix}^{-1},$$

$S, Y$ the last $m$ pairs $s_i = x_{i+1} - x_i$, $y_i = g_{i+1} - g_i$ (oldest first),
$D = \operatorname{diag}(s_i^\top y_i)$, $L_{ij} = s_i^\top y_j$ for $i > j$, $\theta =
y^\top y / s^\top y$ of the newest pair:

1. :func:`cauchy_point`: the first local minimizer $x^c$ of the quadratic model
   $m(x) = f + g^\top (x - x_k) + \tfrac12 (x - x_k)^\top B (x - x_k)$ along the projected
   steepest-descent path $P(x_k - t g)$, examined segment by segment between the sorted
   breakpoints (Algorithm CP of Byrd, Lu, Nocedal & Zhu 1995).
2. :func:`subspace_point`: the minimizer of $m$ over the variables that are free at $x^c$
   (the direct primal method, their eq. 5.11, by the Sherman-Morrison-Woodbury formula),
   projected on the box; when the projection gives no descent, the step from $x^c$ is cut
   at the first bound instead (Morales & Nocedal 2011, the change of L-BFGS-B 3.0).
3. The caller searches along $d = \bar x - x_k$ (``_bounds.py``).

Static shapes throughout: the pairs are $(m, n)$ arrays with unused rows zero (their block
of $M$ is the identity), the free variables a mask, the breakpoint loop a
:func:`jax.lax.while_loop` over the breakpoints sorted by :func:`jax.numpy.sort`.

References:
  Byrd, Lu, Nocedal & Zhu, "A limited memory algorithm for bound constrained optimization",
  SIAM J. Sci. Comput. 16(5), 1995. Zhu, Byrd, Lu & Nocedal, "Algorithm 778: L-BFGS-B",
  ACM TOMS 23(4), 1997. Morales & Nocedal, "Remark on Algorithm 778", ACM TOMS 38(1), 2011.
  Byrd, Nocedal & Schnabel, "Representations of quasi-Newton matrices and their use in
  limited memory methods", Math. Programming 63, 1994.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class LbfgsbMemory(NamedTuple):
    r"""The limited-memory state of L-BFGS-B (flat vectors).

    Attributes:
      s: $(m, n)$, the stored $s_i$, oldest first; rows before the last ``size`` are 0.
      y: $(m, n)$, the stored $y_i$, same layout.
      size: int32 number of stored pairs ($\le m$).
      theta: $\theta$, the scaling of the initial matrix $\theta I$ (1 when empty).
    """

    s: jax.Array
    y: jax.Array
    size: jax.Array
    theta: jax.Array


def init_memory(x: jax.Array, m: int) -> LbfgsbMemory:
    """An empty memory for ``m`` pairs of vectors like ``x``."""
    zeros = jnp.zeros((m, x.size), x.dtype)
    return LbfgsbMemory(zeros, zeros, jnp.zeros([], jnp.int32), jnp.ones([], x.dtype))


def compact_form(mem: LbfgsbMemory) -> tuple[jax.Array, jax.Array]:
    r"""$W^\top$ as a $(2m, n)$ array and the $(2m, 2m)$ middle matrix $M$.

    Unused pairs have zero rows in $W^\top$ and an identity block in $M$; if $M$ is not
    finite (a singular middle matrix) the memory is treated as empty, as L-BFGS-B refreshes
    it then.
    """
    m = mem.s.shape[0]
    valid = jnp.arange(m) >= m - mem.size
    sy = mem.s @ mem.y.T  # (S^T Y)_ij = s_i . y_j
    lower = jnp.tril(sy, -1)
    k = jnp.block([[-jnp.diag(jnp.diag(sy)), lower.T], [lower, mem.theta * (mem.s @ mem.s.T)]])
    k = k + jnp.diag(~jnp.concatenate([valid, valid])).astype(k.dtype)
    middle = jnp.linalg.inv(k)
    ok = jnp.all(jnp.isfinite(middle))
    wt = jnp.concatenate([mem.y, mem.theta * mem.s]) * ok
    return wt, jnp.where(ok, middle, jnp.eye(2 * m, dtype=k.dtype))


class _Cauchy(NamedTuple):
    k: jax.Array  # breakpoints passed
    tj: jax.Array  # the last breakpoint
    tsum: jax.Array
    f1: jax.Array  # slope of the model along the path at tj
    f2: jax.Array  # its curvature
    dtm: jax.Array  # the minimizer's distance past tj
    p: jax.Array  # W^T d
    c: jax.Array  # W^T (x(t_j) - x)
    d: jax.Array
    xcp: jax.Array
    hit: jax.Array  # variables fixed at a bound by the path
    done: jax.Array


def cauchy_point(x, g, lower, upper, wt, middle, theta):
    r"""The generalized Cauchy point $x^c$, $c = W^\top(x^c - x)$ and the free mask at $x^c$.

    Along $x(t) = P(x - t g)$ the model is a piecewise quadratic; on the segment after
    breakpoint $t_j$ its slope and curvature are $f' = g^\top d + (x(t_j) - x)^\top B d$,
    $f'' = d^\top B d$ ($d$ the path's direction there), and the minimizer is at
    $t_j + \Delta t^*$, $\Delta t^* = -f'/f''$, if that is before the next breakpoint.
    Each breakpoint fixes one variable at its bound and updates $f'$, $f''$ in $O(m^2)$.
    A variable at a bound whose gradient points out of the box, or with $\ell_i = u_i$, is
    fixed from the start.
    """
    eps = jnp.finfo(x.dtype).eps
    has_l, has_u = jnp.isfinite(lower), jnp.isfinite(upper)
    tl, tu = x - lower, upper - x
    at_l, at_u = has_l & (tl <= 0), has_u & (tu <= 0)
    fixed = (lower == upper) | (at_l & (g >= 0)) | (~at_l & at_u & (g <= 0))
    d = jnp.where(fixed, 0, -g)
    brk = ~fixed & (((d < 0) & has_l) | ((d > 0) & has_u))
    t = jnp.where(
        brk, jnp.where(d < 0, tl / jnp.where(brk, -d, 1), tu / jnp.where(brk, d, 1)), jnp.inf
    )
    bounded = ~jnp.any(~fixed & ~brk & (d != 0))  # every moving variable meets a bound
    nbreak = jnp.sum(brk)
    order = jnp.argsort(t)
    ts = t[order]
    p = wt @ d
    f1 = -(d @ d)
    f2_org = -theta * f1
    f2 = f2_org - p @ (middle @ p)
    dtm = jnp.where(f2 > 0, -f1 / jnp.where(f2 > 0, f2, 1), 0)

    def body(s: _Cauchy) -> _Cauchy:
        tj = ts[jnp.minimum(s.k, t.size - 1)]
        dt = tj - s.tj
        b = order[jnp.minimum(s.k, t.size - 1)]
        db = s.d[b]
        bound = jnp.where(db > 0, upper[b], lower[b])
        zb = bound - x[b]
        f1 = s.f1 + dt * s.f2 + db * db - theta * db * zb
        f2 = s.f2 - theta * db * db
        c = s.c + dt * s.p
        wb = wt[:, b]
        v = middle @ wb
        f1 = f1 + db * (c @ v)
        f2 = f2 + 2 * db * (s.p @ v) - db * db * (wb @ v)
        f2 = jnp.maximum(eps * f2_org, f2)
        k = s.k + 1
        more = k < nbreak
        dtm = jnp.where(more | ~bounded, -f1 / f2, 0)
        passed = _Cauchy(
            k, tj, s.tsum + dt, f1, f2, dtm, s.p - db * wb, c,
            s.d.at[b].set(0), s.xcp.at[b].set(bound), s.hit.at[b].set(True), ~more,
        )  # fmt: skip
        stop = s.dtm < dt  # the minimizer lies before this breakpoint
        return jax.tree.map(
            lambda a, b: jnp.where(stop, a, b), s._replace(done=jnp.asarray(True)), passed
        )

    zero = jnp.zeros([], x.dtype)
    init = _Cauchy(
        jnp.zeros([], jnp.int32), zero, zero, f1, f2, dtm, p, jnp.zeros_like(p), d, x,
        jnp.zeros(x.shape, bool), nbreak == 0,
    )  # fmt: skip
    s = jax.lax.while_loop(lambda s: ~s.done, body, init)
    dtm = jnp.maximum(s.dtm, 0)
    xcp = s.xcp + (s.tsum + dtm) * s.d
    return xcp, s.c + dtm * s.p, ~(fixed | s.hit)


def subspace_point(x, g, lower, upper, xcp, c, free, wt, middle, theta):
    r"""$\bar x$: the model minimized over the free variables from $x^c$, then projected.

    $$\hat r = Z^\top\big(g + \theta(x^c - x) - W M c\big),\qquad
    d^u = -\frac{1}{\theta}\hat r - \frac{1}{\theta^2} Z^\top W
    \Big(I - \frac{1}{\theta} M W^\top Z Z^\top W\Big)^{-1} M W^\top Z \hat r,$$

    $Z$ the free variables' columns of $I$ (here a mask). $\bar x = P(x^c + d^u)$ if that
    hits no bound or gives a descent direction $(\bar x - x)^\top g \le 0$; otherwise
    $\bar x = x^c + \alpha^* d^u$ with $\alpha^* \le 1$ the largest feasible step, the
    variable that limits it put exactly on its bound.
    """
    rc = jnp.where(free, g + theta * (xcp - x) - wt.T @ (middle @ c), 0)
    wz = jnp.where(free, wt, 0)
    n_mat = jnp.eye(wt.shape[0], dtype=wt.dtype) - middle @ (wz @ wt.T) / theta
    v = jnp.linalg.solve(n_mat, middle @ (wz @ rc))
    du = jnp.where(free, -rc / theta - (wt.T @ v) / theta**2, 0)
    xhat = jnp.clip(xcp + du, lower, upper)
    touched = jnp.any(free & ((xhat == lower) | (xhat == upper)))
    # The step from x^c cut at the first bound (L-BFGS-B 3.0's fallback).
    gap_l, gap_u = lower - xcp, upper - xcp
    to_l = jnp.where(gap_l >= 0, 0, gap_l / jnp.where(du < 0, du, -1))
    to_u = jnp.where(gap_u <= 0, 0, gap_u / jnp.where(du > 0, du, 1))
    ratio = jnp.where(free & (du < 0), to_l, jnp.where(free & (du > 0), to_u, jnp.inf))
    ibd = jnp.argmin(ratio)
    alpha = jnp.minimum(ratio[ibd], 1)
    xback = xcp + alpha * du
    limit = jnp.where(du[ibd] > 0, upper[ibd], lower[ibd])
    xback = jnp.where(alpha < 1, xback.at[ibd].set(limit), xback)
    back = touched & ((xhat - x) @ g > 0)
    return jnp.where(back, xback, xhat)


def direction(x, g, lower, upper, mem: LbfgsbMemory, constrained) -> jax.Array:
    r"""The L-BFGS-B search direction $d = \bar x - x$ (:func:`cauchy_point`, then
    :func:`subspace_point`; without bounds and with pairs stored, $x^c = x$ and all
    variables are free, so $\bar x - x = -B^{-1} g$).

    Example (an empty memory, $B = I$: the path $P(x - t g)$ meets both bounds by $t = 1/2$):
      >>> import jax.numpy as jnp
      >>> x, g = jnp.zeros(2), jnp.array([1.0, -2.0])
      >>> lo, up = jnp.full(2, -0.5), jnp.ones(2)
      >>> direction(x, g, lo, up, init_memory(x, 3), True).tolist()
      [-0.5, 1.0]
    """
    wt, middle = compact_form(mem)
    empty = ~jnp.any(wt != 0)  # no pairs, or a refreshed (singular) memory
    xcp, c, free = cauchy_point(x, g, lower, upper, wt, middle, mem.theta)
    skip = ~constrained & ~empty  # L-BFGS-B skips the Cauchy point without bounds
    xcp = jnp.where(skip, x, xcp)
    c = jnp.where(skip, 0, c)
    free = free | skip
    xbar = subspace_point(x, g, lower, upper, xcp, c, free, wt, middle, mem.theta)
    xbar = jnp.where(empty | ~jnp.any(free), xcp, xbar)
    return xbar - x


def update_memory(mem: LbfgsbMemory, s: jax.Array, y: jax.Array, g: jax.Array) -> LbfgsbMemory:
    r"""Store the pair $(s, y)$ unless $s^\top y \le \epsilon_\text{mach}\,(-g^\top s)$ (the
    curvature test of L-BFGS-B); $\theta = y^\top y / s^\top y$."""
    sy = s @ y
    keep = sy > jnp.finfo(s.dtype).eps * -(g @ s)

    def push(a, v):
        return jnp.where(keep, jnp.roll(a, -1, axis=0).at[-1].set(v), a)

    m = mem.s.shape[0]
    return LbfgsbMemory(
        push(mem.s, s),
        push(mem.y, y),
        jnp.where(keep, jnp.minimum(mem.size + 1, m), mem.size).astype(jnp.int32),
        jnp.where(keep, (y @ y) / jnp.where(keep, sy, 1), mem.theta),
    )
