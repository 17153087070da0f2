"""The benchmark scripts still run against the package (small sizes; nothing is asserted on time: the
numbers are benchmarks/RESULTS.md's, measured by hand).

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


@pytest.mark.slow
def test_bench_processing_runs_floor_and_ours_and_checks_their_cutflows(tmp_path):
    text = _bench("benchmarks/bench_processing.py", "--n-events", "1e6", "--repeat", "1", "--no-rdf",
                  "--dir", str(tmp_path))
    assert re.search(r"N=1e\+06: ours-1/floor whole-process [\d.]+, step [\d.]+ .* RSS ours-1 \d+ MB, floor \d+ MB",
                     text), text


def test_bench_workflow_sums_job_seconds_of_a_snakemake_log(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("\n".join([
        "[Thu Dec  3 12:00:00 2026]", "rule simulate:", "    output: a", "    jobid: 3",
        "[Thu Dec  3 12:00:01 2026]", "rule limits_na64e_dark_photon:", "    jobid: 7",
        "[Thu Dec  3 12:00:05 2026]", "Finished jobid: 3 (Rule: simulate)",
        "[Thu Dec  3 12:00:11 2026]", "Finished jobid: 7 (Rule: limits_na64e_dark_photon)", ""]))
    text = _bench("benchmarks/bench_workflow.py", "--log", str(log))
    assert re.search(r"^simulate\s+1\s+5$", text, re.M), text
    assert "limits 10 s (1)" in text and "total job-seconds: 15" in text, text
