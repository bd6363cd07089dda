"""The soak's memory figures (tools/soak.py): the RSS slope ignores the warm-up minute and
reads the resident memory of this process and of the node processes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("soak", ROOT / "tools/soak.py")
soak = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = soak  # dataclasses look their module up while being built
spec.loader.exec_module(soak)


def test_slope_is_fitted_after_the_warm_up() -> None:
    # 50 MB of start-up growth in the first minute, then 0.5 MB/min.
    late = [(t, 150.0 + 0.5 * t / 60) for t in range(60, 610, 10)]
    samples = [(0.0, 100.0), (30.0, 150.0), *late]
    assert soak.slope_mb_per_min(samples) == pytest.approx(0.5)
    assert soak.slope_mb_per_min(samples, after_s=0.0) > 1.0


def test_short_runs_use_every_sample_and_one_sample_has_no_slope() -> None:
    samples = [(0.0, 100.0), (20.0, 101.0), (40.0, 102.0)]
    assert soak.slope_mb_per_min(samples) == pytest.approx(3.0)
    assert soak.slope_mb_per_min(samples[:1]) == 0.0


def test_resident_memory_grows_with_an_allocation() -> None:
    before = soak.rss_mb()
    block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
    assert soak.rss_mb() - before > 50
    del block


def test_resident_memory_adds_the_node_processes() -> None:
    # A child holding 64 MB, touched (bytearray zero-fills), as a node process would.
    code = "import sys, time; b = bytearray(64 * 2**20); print(flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        child.stdout.readline()  # allocated
        assert soak.rss_mb([child.pid]) - soak.rss_mb() > 50
    finally:
        child.kill()
        child.wait()
