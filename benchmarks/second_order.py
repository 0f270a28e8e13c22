"""Full-batch solvers side by side: gradtx, scipy.optimize.minimize, and optax.lbfgs.

Float64, stopping rule ||g||_inf <= 1e-6 (absolute) for every solver. For each problem and
solver it prints iterations, function / gradient / Hessian-vector evaluations, the final
||g||_inf and the wall time of a second (compiled) run; gradtx and optax run as one jitted
while-loop, scipy calls jitted JAX functions for f, its gradient and Hessian products.

    python benchmarks/second_order.py            # all problems, best of 5 timed runs
    python benchmarks/second_order.py --quick    # skip the MLP, one timed run

The MLP (64-32-10, 2,410 parameters) is nonconvex, so iteration counts depend on the start
point more than on the solver: it runs from ``--mlp-seeds`` starts (default 5) and a last
table sums evaluations and times over them. Each MLP run is timed once, without Newton (a
dense Hessian) and the two scipy Hessian-product methods, to keep the run short.
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import scipy.optimize  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

from gradtx.second_order import minimize  # noqa: E402

TOL = 1e-6


def rosenbrock(x):
    """Extended Rosenbrock (More, Garbow & Hillstrom 1981): n/2 independent 2-D copies."""
    a, b = x[0::2], x[1::2]
    return jnp.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


def make_quadratic(n=100, cond=1e4, seed=0):
    """0.5 x'Ax - b'x, eigenvalues log-spaced in [1, cond], a random rotation."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = jnp.asarray((q * np.logspace(0, np.log10(cond), n)) @ q.T)
    b = jnp.asarray(rng.normal(size=n))
    return (lambda x: 0.5 * x @ a @ x - b @ x), jnp.zeros(n)


def load_digits_data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return jnp.asarray(digits.data / 16.0), jnp.asarray(digits.target)


def make_logistic(l2=1e-3):
    """Multinomial logistic regression on the digits: 64*10 + 10 = 650 parameters."""
    x, y = load_digits_data()

    def model(p):
        return x @ p["w"] + p["b"]

    def loss_of_outputs(outputs):
        logits, p = outputs
        logp = jax.nn.log_softmax(logits)
        ce = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
        return ce + 0.5 * l2 * sum(jnp.sum(v**2) for v in jax.tree.leaves(p))

    def model_fn(p):  # the parameters ride along, so the L2 term is in the Gauss-Newton matrix
        return model(p), p

    def f(p):
        return loss_of_outputs(model_fn(p))

    x0 = {"w": jnp.zeros((64, 10)), "b": jnp.zeros(10)}
    return f, x0, {"model_fn": model_fn, "loss_of_outputs": loss_of_outputs}


def make_mlp(hidden=32, l2=1e-4, seed=0):
    """The case study's MLP (64 -> 32 -> 10, tanh) on all the digits, full batch."""
    x, y = load_digits_data()
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    x0 = [
        {"w": jax.random.normal(k1, (64, hidden)) / 8.0, "b": jnp.zeros(hidden)},
        {"w": jax.random.normal(k2, (hidden, 10)) / np.sqrt(hidden), "b": jnp.zeros(10)},
    ]

    def model_fn(p):
        h = jnp.tanh(x @ p[0]["w"] + p[0]["b"])
        return h @ p[1]["w"] + p[1]["b"], p

    def loss_of_outputs(outputs):
        logits, p = outputs
        logp = jax.nn.log_softmax(logits)
        ce = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
        return ce + 0.5 * l2 * sum(jnp.sum(v**2) for v in jax.tree.leaves(p))

    return (
        (lambda p: loss_of_outputs(model_fn(p))),
        x0,
        {
            "model_fn": model_fn,
            "loss_of_outputs": loss_of_outputs,
        },
    )


def problems(quick, mlp_seeds=5):
    quad, q0 = make_quadratic()
    out = [
        ("Rosenbrock 2-D", rosenbrock, jnp.array([-1.2, 1.0]), {}),
        ("ext. Rosenbrock n=100", rosenbrock, jnp.tile(jnp.array([-1.2, 1.0]), 50), {}),
        ("quadratic n=100, cond 1e4", quad, q0, {}),
        ("logistic regression (digits)", *make_logistic()),
    ]
    if not quick:  # nonconvex: counts depend on the start, so several starts
        out += [(f"MLP 64-32-10 (digits), seed {k}", *make_mlp(seed=k)) for k in range(mlp_seeds)]
    return out


def timed(run, repeats):
    result = run()  # compile (or warm up)
    jax.block_until_ready(result)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run())
        best = min(best, time.perf_counter() - start)
    return result, best


def run_gradtx(f, x0, extra, method, repeats, maxiter=20000):
    def run():
        return minimize(f, x0, method, tol=TOL, tol_kind="absolute", maxiter=maxiter,
                        extra_args=extra if method == "hessian_free" else None)  # fmt: skip

    r, t = timed(run, repeats)
    evals = (int(r.num_fun_evals), int(r.num_grad_evals), int(r.num_hvp_evals))
    if method == "newton":
        evals = (*evals[:2], f"{int(r.num_hessian_evals)} H")
    return int(r.iterations), *evals, float(r.grad_norm), t, r.message.split(":")[0]


def run_optax(f, x0, repeats, maxiter=20000):
    solver = optax.lbfgs()
    vg = optax.value_and_grad_from_state(f)

    @jax.jit
    def solve(x):
        def cond(c):
            k, g = c[2], c[4]
            return (k < maxiter) & (optax.tree.norm(g, ord=jnp.inf) > TOL)

        def body(c):
            x, state, k, nfev, _ = c
            value, grad = vg(x, state=state)
            updates, state = solver.update(grad, state, x, value=value, grad=grad, value_fn=f)
            steps = optax.tree.get(state, "info").num_linesearch_steps
            x = optax.apply_updates(x, updates)
            _, g_new = vg(x, state=state)
            return x, state, k + 1, nfev + steps, g_new

        g0 = jax.grad(f)(x)
        return jax.lax.while_loop(cond, body, (x, solver.init(x), 0, 1, g0))

    (_, _, k, nfev, g), t = timed(lambda: solve(x0), repeats)
    gn = float(optax.tree.norm(g, ord=jnp.inf))
    return int(k), int(nfev), int(nfev), 0, gn, t, "converged" if gn <= TOL else "not converged"


def run_scipy(f, x0, method, repeats):
    flat0, unravel = ravel_pytree(x0)
    vg = jax.jit(lambda v: jax.value_and_grad(lambda u: f(unravel(u)))(v))
    hvp = jax.jit(lambda v, w: jax.jvp(jax.grad(lambda u: f(unravel(u))), (v,), (w,))[1])
    counts = {"hvp": 0}

    def fun(v):
        value, grad = vg(v)
        return float(value), np.asarray(grad)

    def hessp(v, w):
        counts["hvp"] += 1
        return np.asarray(hvp(v, w))

    kwargs = {"jac": True}
    opts = {"gtol": TOL, "maxiter": 20000}
    if method == "L-BFGS-B":
        opts.update(ftol=0.0, maxfun=100000)
    if method in ("Newton-CG", "trust-ncg"):
        kwargs["hessp"] = hessp
    if method == "Newton-CG":  # it has no gtol: stop on a tiny step, report ||g|| honestly
        opts = {"xtol": 1e-14, "maxiter": 20000}

    def run():
        counts["hvp"] = 0
        return scipy.optimize.minimize(
            fun, np.asarray(flat0), method=method, options=opts, **kwargs
        )

    r, t = timed(run, repeats)
    gn = float(np.max(np.abs(fun(r.x)[1])))
    njev = getattr(r, "njev", r.nfev)
    status = "converged" if gn <= TOL else "not converged"
    return int(r.nit), int(r.nfev), int(njev), counts["hvp"], gn, t, status


SOLVERS = [
    ("gradtx lbfgs", lambda f, x0, e, rep: run_gradtx(f, x0, e, "lbfgs", rep)),
    ("gradtx cg (PR+)", lambda f, x0, e, rep: run_gradtx(f, x0, e, "cg", rep)),
    ("gradtx newton", lambda f, x0, e, rep: run_gradtx(f, x0, e, "newton", rep)),
    ("gradtx hessian_free", lambda f, x0, e, rep: run_gradtx(f, x0, e, "hessian_free", rep)),
    ("optax.lbfgs (jitted loop)", lambda f, x0, e, rep: run_optax(f, x0, rep)),
    ("scipy L-BFGS-B", lambda f, x0, e, rep: run_scipy(f, x0, "L-BFGS-B", rep)),
    ("scipy CG", lambda f, x0, e, rep: run_scipy(f, x0, "CG", rep)),
    ("scipy Newton-CG", lambda f, x0, e, rep: run_scipy(f, x0, "Newton-CG", rep)),
    ("scipy trust-ncg", lambda f, x0, e, rep: run_scipy(f, x0, "trust-ncg", rep)),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the MLP, one timed run")
    parser.add_argument("--solvers", default="", help="comma-separated name prefixes")
    parser.add_argument("--mlp-seeds", type=int, default=5, help="starts of the MLP")
    args = parser.parse_args()
    repeats = 1 if args.quick else 5
    wanted = [s for s in args.solvers.split(",") if s]
    header = "| solver | iters | f evals | grad evals | HVPs | final ‖g‖∞ | time (ms) | status |"
    totals: dict[str, list[float]] = {}  # MLP: label -> [f evals, seconds, converged runs]
    for name, f, x0, extra in problems(args.quick, args.mlp_seeds):
        print(f"\n### {name}\n\n{header}\n|---|---:|---:|---:|---:|---:|---:|---|")
        for label, solve in SOLVERS:
            if wanted and not any(label.startswith(w) for w in wanted):
                continue
            big = ravel_pytree(x0)[0].size > 1000
            if big and label in ("gradtx newton", "scipy Newton-CG", "scipy trust-ncg"):
                continue
            it, nf, ng, nh, gn, t, status = solve(f, x0, extra, 1 if big else repeats)
            print(f"| {label} | {it} | {nf} | {ng} | {nh} | {gn:.1e} | {1e3 * t:.3g} | {status} |")
            if name.startswith("MLP"):
                total = totals.setdefault(label, [0, 0.0, 0])
                total[0] += nf
                total[1] += t
                total[2] += status == "converged"
    if totals:
        ref = totals.get("optax.lbfgs (jitted loop)")
        print(f"\n### MLP, all {args.mlp_seeds} starts together\n")
        print(
            "| solver | f evals | time (ms) | converged | time / optax.lbfgs |\n"
            "|---|---:|---:|---:|---:|"
        )
        for label, (nf, t, ok) in totals.items():
            ratio = f"{t / ref[1]:.2f}" if ref else "—"
            print(f"| {label} | {nf} | {1e3 * t:.4g} | {ok}/{args.mlp_seeds} | {ratio} |")


if __name__ == "__main__":
    main()
