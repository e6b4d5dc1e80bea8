# make bench: the launcher side by side with the Vertex AI SDK on the built-in emulator (bench/, ~15-20 min).
# Not part of `make test`. Writes docs/benchmarks.md, docs/benchmarks.json and docs/benchmarks-poll-timeline.png;
# builds its measured environments under .build/bench/ (uv, from uv.lock). BENCH_ARGS=--quick for a smoke run.
.PHONY: bench
bench: venv ## Performance benchmark vs the Vertex AI SDK (~15-20 min; docs/benchmarks.md)
	BENCH_UV=$(UV) $(RUN) python -m bench $(BENCH_ARGS)
