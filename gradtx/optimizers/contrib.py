"""Structure-aware methods from optax.contrib: Muon, Sophia, SAM.

Importing this module registers its optimizers in ``gradtx.OPTIMIZERS``.
"""

from __future__ import annotations
