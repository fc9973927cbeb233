"""Tradewire benchmarks (``make bench`` / ``make bench-quick``) and the chaos suite (``make chaos``).

Every figure is measured beside a baseline from the same run: raw ccxt ``create_order`` against the same
simulator process (sequential and 20 in flight) and the simulator's own handler time. Results go to
``bench/results/latest.json`` and ``docs/benchmarks.md``.
"""
