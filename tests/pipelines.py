"""A real KFP pipeline, compiled with the kfp SDK, for the pipeline tests (kfp is a dev dependency only)."""

# No `from __future__ import annotations` here: kfp reads the component annotations as real types.
from pathlib import Path


def compile_pipeline(path: Path, *, pipeline_root: str | None = "gs://bucket/root") -> Path:
    """Compile a two-task pipeline with parameters ``day`` (required) and ``epochs`` (default 3) to ``path``."""
    from kfp import compiler, dsl

    @dsl.component(base_image="python:3.12-slim")
    def train(day: str, epochs: int) -> str:
        return f"{day}:{epochs}"

    @dsl.component(base_image="python:3.12-slim")
    def evaluate(model: str) -> None:
        print(model)

    @dsl.pipeline(name="nightly-train", pipeline_root=pipeline_root)
    def nightly(day: str, epochs: int = 3) -> None:
        trained = train(day=day, epochs=epochs)
        evaluate(model=trained.output)

    compiler.Compiler().compile(nightly, str(path))
    return path
