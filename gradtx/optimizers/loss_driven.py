"""Loss-driven learning-rate control and gradient-free baselines:
bold driver, reduce-on-plateau, random search, SPSA.

Importing this module registers its optimizers in ``gradtx.OPTIMIZERS``.
"""

from __future__ import annotations
