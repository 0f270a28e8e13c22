"""An AlgoPerf-style time-to-result benchmark that runs on one CPU (see README.md here).

* ``_workloads.py`` - the workloads (model, data, loss, metric, target, step budget), with
  ``_models.py`` (Flax NNX) and ``_data.py`` (digits, IDX files, generated data).
* ``_optimizers.py`` - the optimizers and their search spaces, one line each.
* ``_search.py`` - the quasi-random (Halton) search; ``_trainer.py`` - compiled trials;
  ``_timing.py`` - side-by-side time per step; ``_scoring.py`` - best trial, seeds,
  performance profiles; ``_report.py`` - JSON, Markdown and figures.
* ``run.py`` - the command (``python -m benchmarks.workloads --quick``).
* ``algoperf.py`` - turns a gradtx transform into an AlgoPerf submission; ``_standin.py`` -
  a stand-in AlgoPerf workload and runner loop to test it with.
"""
