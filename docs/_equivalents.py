"""The Optax and PyTorch names of every registered optimizer, for the docs' tables.

When you register a new optimizer, add a line here: ``tests/test_docs.py`` fails until every
name in ``gradtx.OPTIMIZERS`` has one. Entries for names that are not registered (yet) are
harmless.
"""

from __future__ import annotations

# Optax and PyTorch (`torch.optim`) equivalents of every registered optimizer: (optax, torch),
# by family (the module of gradtx/optimizers/). "—" means there is none. Entries for names not
# registered (yet) are harmless.
EQUIVALENTS: dict[str, tuple[str, str]] = {
    # sgd
    "gd": ("`optax.sgd(lr)`", "`SGD(lr=lr)`"),
    "sgd": ("`optax.sgd`", "`SGD` (`dampening=0`)"),
    "heavy_ball": ("`chain(scale_by_learning_rate, trace)`", "—"),
    "ema_momentum": (
        "`chain(ema(debias=False), scale_by_learning_rate)`",
        "`SGD`, `dampening=momentum` (first step differs)",
    ),
    # sgd_variants
    "noisy_sgd": ("`optax.noisy_sgd`", "—"),
    "polyak_sgd": ("`optax.polyak_sgd`", "—"),
    "optimistic_gradient_descent": ("`optax.optimistic_gradient_descent`", "—"),
    "asgd": ("—", "`ASGD`"),
    # adaptive
    "adagrad": ("`optax.adagrad`", "`Adagrad`"),
    "adadelta": ("`optax.adadelta`", "`Adadelta`"),
    "rmsprop": ("`optax.rmsprop`", "`RMSprop` (with `eps_in_sqrt=False`)"),
    "rprop": ("`optax.rprop`", "`Rprop`"),
    # adam
    "adam": ("`optax.adam`", "`Adam`"),
    "adamw": ("`optax.adamw`", "`AdamW`"),
    "nadam": ("`optax.nadam`", "`NAdam` (differs: momentum decay)"),
    "nadamw": ("`optax.nadamw`", "`NAdam`, `decoupled_weight_decay=True`"),
    "amsgrad": ("`optax.amsgrad`", "`Adam`, `amsgrad=True`"),
    "adamax": ("`optax.adamax`", "`Adamax`"),
    "adamaxw": ("`optax.adamaxw`", "—"),
    # adam_variants
    "adabelief": ("`optax.adabelief`", "—"),
    "yogi": ("`optax.yogi`", "—"),
    "radam": ("`optax.radam`", "`RAdam`"),
    "adan": ("`optax.adan`", "—"),
    "optimistic_adam": ("`optax.optimistic_adam`", "—"),
    "optimistic_adam_v2": ("`optax.optimistic_adam_v2`", "—"),
    # moment_variants
    "adopt": ("`optax.contrib.adopt`", "—"),
    "ademamix": ("`optax.contrib.ademamix`", "—"),
    "simplified_ademamix": ("`optax.contrib.simplified_ademamix`", "—"),
    "madgrad": ("`optax.contrib.madgrad`", "—"),
    "lazy_adam": ("—", "`SparseAdam`"),
    # sign
    "sign_sgd": ("`optax.sign_sgd`", "—"),
    "signum": ("`optax.signum`", "—"),
    "lion": ("`optax.lion`", "—"),
    # layerwise
    "lamb": ("`optax.lamb`", "—"),
    "lars": ("`optax.lars`", "—"),
    "fromage": ("`optax.fromage`", "—"),
    "novograd": ("`optax.novograd`", "—"),
    # factored
    "adafactor": ("`optax.adafactor`", "`Adafactor` (other defaults)"),
    "sm3": ("`optax.sm3`", "—"),
    # orthogonal
    "muon": ("`optax.contrib.muon`", "`Muon`"),
    # hessian_diagonal
    "sophia": ("`optax.contrib.sophia`", "—"),
    # sam
    "sam": ("`optax.contrib.sam`", "—"),
    # gain_adaptation
    "local_gains": ("—", "—"),
    "delta_bar_delta": ("—", "—"),
    "vsgd": ("—", "—"),
    # loss_driven
    "bold_driver": ("—", "—"),
    "random_search": ("—", "—"),
    "spsa": ("—", "—"),
    "reduce_on_plateau": ("`optax.contrib.reduce_on_plateau`", "`lr_scheduler.ReduceLROnPlateau`"),
    # parameter_free
    "cocob": ("`optax.contrib.cocob`", "—"),
    "dog": ("`optax.contrib.dog`", "—"),
    "dowg": ("`optax.contrib.dowg`", "—"),
    # d_adaptation
    "prodigy": ("`optax.contrib.prodigy`", "—"),
    "dadapt_adamw": ("`optax.contrib.dadapt_adamw`", "—"),
    # mechanic
    "mechanize": ("`optax.contrib.mechanize`", "—"),
    # schedule_free
    "schedule_free_sgd": ("`optax.contrib.schedule_free_sgd`", "—"),
    "schedule_free_adamw": ("`optax.contrib.schedule_free_adamw`", "—"),
    "schedule_free": ("`optax.contrib.schedule_free`", "—"),
}
