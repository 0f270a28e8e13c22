"""Per-weight learning-rate adaptation: local gains, delta-bar-delta, vSGD.

Importing this module registers its optimizers in ``gradtx.OPTIMIZERS``.
"""

from __future__ import annotations
