"""Comparison benchmarks (``kakehashi bench``): named test sets, systems of any kind, quality and speed reports.

Modules: ``testsets`` (test sets by name and direction), ``systems`` (models, HTTP endpoints, output files),
``quality`` (translate, score, paired bootstrap), ``speed`` (engines over a batch/beam grid), ``report`` (JSON,
Markdown, PNG), ``cli`` (``add_bench_command``).
"""
