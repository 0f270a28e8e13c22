"""Utilities around the optimizers: the learning-rate range test."""

from gradtx.utils._lr_range_test import LRRangeResult as LRRangeResult
from gradtx.utils._lr_range_test import lr_range_test as lr_range_test

__all__ = ["LRRangeResult", "lr_range_test"]
