"""Smoke test of the benchmark harness: a tiny plan of two scenarios, in a subprocess, must write a JSON
result with real figures next to the baseline (the full bench is ``make bench``, not part of ``make test``)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_bench_writes_figures(tmp_path):
    out, md = tmp_path / "latest.json", tmp_path / "benchmarks.md"
    proc = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--only", "baseline,latency,rejected",
                           "--json", str(out), "--markdown", str(md)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["machine"]["nproc"] >= 1 and results["machine"]["python"]
    assert results["baseline"]["sequential"]["round_trip"]["p50"] > 0
    assert results["baseline"]["concurrent"]["orders_per_s"] > 0
    point = results["latency"]["50"]
    assert point["statuses"].get("ACCEPTED", 0) > 0
    for figure in ("received_to_handed", "received_to_wire", "received_to_ack"):
        assert point[figure]["n"] > 0 and point[figure]["p50"] > 0, figure
    assert results["rejected"]["per_s"] > 0
    assert results["targets"] and all("holds" in t for t in results["targets"])
    assert "Targets (SPEC §11)" in md.read_text()
