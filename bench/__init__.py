"""The performance benchmark behind ``make bench``: the launcher vs the Vertex SDK on the project's emulator.

``runner`` runs the phases and writes ``docs/benchmarks.json``; ``report`` renders ``docs/benchmarks.md`` and the
poll-timeline chart from it; ``model`` is the pure poll-schedule simulation (also unit-tested); ``procs`` and
``envs`` measure processes and installed environments; ``sdk_reference`` is the peer script.
"""
