"""Learning-rate-free and schedule-free methods:
schedule-free SGD/AdamW, Prodigy, D-Adaptation, Mechanic, COCOB, DoG.

Importing this module registers its optimizers in ``gradtx.OPTIMIZERS``.
"""

from __future__ import annotations
