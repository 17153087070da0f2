"""Integration: a small seeded `na64flow simulate` run -> `process` -> `cutflow` (the chain Snakemake runs)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from na64flow import histograms as H
from na64flow.cli import main

_spec = importlib.util.spec_from_file_location("toy_events", Path(__file__).parent / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp("sim")
    path, cfg = toy.make_config(tmp, repo_root, {"simulation.n_pilot": 2000, "simulation.n_mc": 1000,
                                                 "simulation.n_signal": 200,
                                                 "analyses.na64e.runs.2023.n_ot": 5.0e6})
    if main(["simulate", "-c", str(path), "--analysis", "na64e", "--run", "2023", "--no-progress"]) != 0:
        pytest.fail("na64flow simulate failed")
    out = tmp / "results" / "default" / "histograms" / "na64e" / "2023.pkl"
    assert main(["process", "-c", str(path), "--analysis", "na64e", "--run", "2023", "--executor", "iterative",
                 "--out", str(out)]) == 0
    return H.load(out), cfg


def test_simulated_run_has_every_sample_and_conserves_events(simulated):
    content, _ = simulated
    samples = content["samples"]
    assert "data" in samples and any(s.startswith("mc_") for s in samples) and any(s.startswith("signal_") for s in samples)
    for name, s in samples.items():
        raw = s["cutflow"]["raw"]
        assert raw[0] > 0, name
        failing = [raw[i - 1] - raw[i] for i in range(1, len(raw) - 1)]
        assert all(f >= 0 for f in failing) and raw[0] == sum(failing) + raw[-2], name
    assert "vhcal_empty" in samples["data"]["cutflow"]["names"]     # 2023 runs with the VHCAL
    assert samples["data"]["cutflow"]["raw"][-1] is None and "box" not in samples["data"]["regions"]


def test_dimuon_region_is_dominated_by_simulated_dimuons(simulated):
    content, _ = simulated
    mc = {s: v["regions"]["dimuon"]["weighted"] for s, v in content["samples"].items() if s.startswith("mc_")}
    assert max(mc, key=mc.get) == "mc_dimuon"


def test_signal_events_end_in_the_box_and_not_in_the_hcal_side_band(simulated):
    content, _ = simulated
    for name, s in content["samples"].items():
        if name.startswith("signal_brem"):
            assert s["regions"]["box"]["raw"] > 0.25 * s["cutflow"]["raw"][0], name
            assert s["regions"]["sb_hcal"]["raw"] < 0.05 * s["cutflow"]["raw"][0], name


def test_simulated_samples_carry_their_cutflow_outside_the_blinded_region_and_data_do_not(simulated):
    """Blinded data count only events outside the blinded region; each simulated sample carries the same rows
    for its own events outside that region (what the data/simulation ratio compares with). It is a subset at
    every row, empty in the box row, and smaller than the whole where simulated events lie in the region
    (signal samples are generated there)."""
    content, _ = simulated
    samples = content["samples"]
    assert "cutflow_outside_blinded_region" not in samples["data"]
    for name, s in samples.items():
        if name == "data":
            continue
        full, out = s["cutflow"], s["cutflow_outside_blinded_region"]
        assert out["names"] == full["names"], name
        assert all(o <= f for o, f in zip(out["raw"], full["raw"], strict=True)), name
        assert all(a >= b for a, b in zip(out["raw"], out["raw"][1:])) and out["raw"][-1] == 0, name
    signal = [n for n in samples if n.startswith("signal_")]
    assert signal and all(samples[n]["cutflow_outside_blinded_region"]["raw"][0] < samples[n]["cutflow"]["raw"][0]
                          for n in signal)
