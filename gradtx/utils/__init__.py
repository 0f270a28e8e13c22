"""Utilities around the optimizers: the learning-rate range test, the state-size report."""

from gradtx.utils._lr_range_test import LRRangeResult as LRRangeResult
from gradtx.utils._lr_range_test import lr_range_test as lr_range_test
from gradtx.utils._state_bytes import StateBytes as StateBytes
from gradtx.utils._state_bytes import state_bytes as state_bytes

__all__ = ["LRRangeResult", "StateBytes", "lr_range_test", "state_bytes"]
