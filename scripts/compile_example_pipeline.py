"""Regenerate examples/nightly-pipeline.yaml with the kfp SDK (a dev dependency).

Run: `uv run python scripts/compile_example_pipeline.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pipelines import compile_pipeline

if __name__ == "__main__":
    out = compile_pipeline(Path(__file__).resolve().parent.parent / "examples" / "nightly-pipeline.yaml")
    print(f"wrote {out}")
