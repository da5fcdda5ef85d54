"""``kotae bench``: speed and memory of the index and the answers.

The one part of kotae.eval that may use kotae.index directly: it measures it.
:mod:`.run` is the benchmark itself, :mod:`.measure` times and weighs a process,
:mod:`.report` prints the tables, :mod:`.data` makes synthetic corpora,
:mod:`.scale` runs the scaling measurements (in a child process for memory) and
:mod:`.chart` draws them.
"""

from kotae.eval.bench.report import format_report
from kotae.eval.bench.run import BenchOptions, run_bench

__all__ = ["BenchOptions", "format_report", "run_bench"]
