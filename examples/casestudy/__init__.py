"""Helpers of the case study ``examples/compare_optimizers.py``: data, model, training, report."""
