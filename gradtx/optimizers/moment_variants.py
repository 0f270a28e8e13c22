"""Adam-family and averaging methods from optax.contrib and torch.optim:
ADOPT, AdEMAMix, MADGRAD, ASGD, lazy (sparse) Adam.

Importing this module registers its optimizers in ``gradtx.OPTIMIZERS``.
"""

from __future__ import annotations
