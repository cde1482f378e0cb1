"""The benchmark runs end to end (``python -m bench``) at a tiny size and reports every
measurement. No timing assertions: only that it works and says something."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["first_sync", "empty_pull", "incremental_pull", "push"]


def test_bench_runs_and_reports_every_measurement(tmp_path: Path) -> None:
    out = tmp_path / "sync.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--rounds",
            "1",
            "--warmup",
            "0",
            "--jobs",
            "4",
            "--ops",
            "10",
            "--mutations",
            "3",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    results = {r["name"]: r for r in report["results"]}
    assert list(results) == NAMES
    for name, r in results.items():
        assert r["rounds"] == 1, name
        assert r["doorstep_ms"]["median"] > 0 and r["baseline_ms"]["median"] > 0, name
        assert r["ratio"] > 0 and r["cpu_ratio"] > 0, name
        assert r["sql_statements"] > 0, name
        assert r["label"] in proc.stdout, name  # the summary table
    assert results["incremental_pull"]["label"].startswith("incremental pull (10 ops")
    photos = json.loads((tmp_path / "photos.json").read_text())
    assert photos["photo_ingestion"]["ratio"] > 0 and photos["photo_ingestion"]["rounds"] >= 2
    assert photos["sync_under_photo_load"]["p99_ratio"] > 0
    assert "photo ingestion" in proc.stdout
    assert report["meta"]["sizes"]["mutations"] == 3
