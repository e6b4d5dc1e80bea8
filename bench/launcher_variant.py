"""A candidate cheap win, measured by the benchmark (not shipped): the launcher's own ``main()`` with one change.

``BENCH_FAST_EXIT=1``: after ``main()`` returned (result record written, log pipeline closed) flush stdio and
``os._exit(code)``, skipping the interpreter's teardown of every imported module. Run as
``python bench/launcher_variant.py run`` with the launcher's environment (``PYTHONOPTIMIZE=2`` included);
``bench.runner`` compares it with ``python -m vertex_launcher run``. (The former ``BENCH_GC_OFF`` variant ships
now: ``vertex_launcher.__main__`` disables the collector during start-up itself.)
"""

from __future__ import annotations

import os
import sys

from vertex_launcher.__main__ import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    if os.environ.get("BENCH_FAST_EXIT") != "1":
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
