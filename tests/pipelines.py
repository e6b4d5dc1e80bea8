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


def compile_pipeline_with_defaults(path: Path, *, pipeline_root: str | None = "gs://demo-bucket/root") -> Path:
    """Compile a one-task pipeline whose every parameter has a default, one of each KFP type, to ``path``.

    ``day: str = "2026-01-01"``, ``epochs: int = 3``, ``rate: float = 0.5``, ``dry_run: bool = False``,
    ``tags: list = ["nightly"]``, ``options: dict = {"shuffle": True}``: it runs with no parameter given.
    """
    from kfp import compiler, dsl

    @dsl.component(base_image="python:3.12-slim")
    def train(day: str, epochs: int, rate: float, dry_run: bool, tags: list[str], options: dict[str, bool]) -> None:  # noqa: PLR0917
        print(day, epochs, rate, dry_run, tags, options)

    @dsl.pipeline(name="defaults-train", pipeline_root=pipeline_root)
    def defaults(  # noqa: PLR0917 - a pipeline's parameters are positional by nature
        day: str = "2026-01-01",
        epochs: int = 3,
        rate: float = 0.5,
        dry_run: bool = False,
        tags: list[str] = ["nightly"],  # noqa: B006 - kfp reads the default from the signature
        options: dict[str, bool] = {"shuffle": True},  # noqa: B006
    ) -> None:
        train(day=day, epochs=epochs, rate=rate, dry_run=dry_run, tags=tags, options=options)

    compiler.Compiler().compile(defaults, str(path))
    return path
