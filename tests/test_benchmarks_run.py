"""The benchmark scripts still run against the package (small sizes; nothing is asserted on time).

Two of them had silently broken after refactors: bench_limits imported a writer that had moved to
``na64flow.contracts``, and bench_simulation recorded no random draw at all (it patched
``run_model.rng_for`` while the generator looks up its own imported name), so its "floor" was the writing
alone and its ratio meaningless. These runs fail on either.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO


def _bench(*args: str, timeout: int = 300) -> str:
    out = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_bench_simulation_records_the_draws_of_its_floor():
    text = _bench("benchmarks/bench_simulation.py", "--events", "2e4")
    m = re.search(r"draws: ([\d,]+) variates \((\d+) per event\) in ([\d,]+) calls", text)
    assert m, text
    assert int(m[1].replace(",", "")) > 0 and int(m[3].replace(",", "")) > 0, text
    assert int(m[2]) > 10, text            # every event needs several variates (beam, detector response)
    assert re.search(r"ratio ours/floor = \d+\.\d+", text), text


@pytest.mark.slow
def test_bench_limits_runs_ours_and_the_stock_pyhf_baseline():
    text = _bench("benchmarks/bench_limits.py", "--masses", "4", "--stock-points", "1")
    assert re.search(r"RATIO stock/ours \(same number of workers\): [\d.]+x", text), text
