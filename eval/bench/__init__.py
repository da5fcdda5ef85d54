"""``kotae bench``: speed and memory of the index and the answers.

The one part of kotae.eval that may use kotae.index directly: it measures it.
:mod:`.run` is the benchmark itself, :mod:`.data` makes synthetic corpora, and
:mod:`.scale` runs the scaling measurements (in a child process for memory).
"""

from kotae.eval.bench.run import BenchOptions, format_report, run_bench

__all__ = ["BenchOptions", "format_report", "run_bench"]
