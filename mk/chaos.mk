# `make chaos`: the full fault-injection campaign (tests/chaos, docs/reliability.md). The fast subset runs in `make test`.
CHAOS_SCHEDULES ?= 500
CHAOS_SEED ?= 1
CHAOS_PARALLEL ?= 4

.PHONY: chaos

chaos: venv ## Fault-injection campaign: 500 seeded schedules against the emulator, 0 violations (docs/chaos-results.json)
	$(RUN) python scripts/chaos.py --schedules $(CHAOS_SCHEDULES) --seed $(CHAOS_SEED) --parallel $(CHAOS_PARALLEL)
