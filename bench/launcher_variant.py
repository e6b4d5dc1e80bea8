"""Candidate cheap wins, measured by the benchmark (not shipped): the launcher's own ``main()`` with one change.

``BENCH_GC_OFF=1``: ``gc.disable()`` before anything is imported (the start-up allocates hundreds of thousands of
objects that are never garbage, and every generation-0 threshold crossing makes the collector walk them).
``BENCH_FAST_EXIT=1``: after ``main()`` returned (result record written, log pipeline closed) flush stdio and
``os._exit(code)``, skipping the interpreter's teardown of every imported module. Run as
``python bench/launcher_variant.py run`` with the launcher's environment; ``bench.runner`` compares it with
``python -m vertex_launcher run``.
"""

from __future__ import annotations

import gc
import os
import sys

if os.environ.get("BENCH_GC_OFF") == "1":
    gc.disable()

from vertex_launcher.__main__ import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    if os.environ.get("BENCH_FAST_EXIT") != "1":
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
