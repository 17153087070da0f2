"""Tests of the fast simulation (na64flow.simulation): files, reproducibility, and physics with
statistical tolerances that can fail (4-5 sigma bounds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import uproot
from scipy import stats

from na64flow import NA64Error, config, events
from na64flow.simulation import cli as sim_cli
from na64flow.simulation import (
    detector,
    generator,
    merge,
    processes,
    processes_electron,
    processes_hadron,
    processes_muon,
    run_model,
    trigger,
    writer,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "configs" / "default.yaml"


def small_cfg(tmp: Path, **sim) -> dict:
    """The default configuration with tiny exposures and samples, results under ``tmp``."""
    over = {
        "results_root": str(tmp),
        "analyses.na64e.runs.2016-2022.n_ot": 1.0e7,
        "analyses.na64mu.runs.2022.n_ot": 2.0e8,
        "simulation.n_pilot": 10000,
        "simulation.n_mc": 1500,
        "simulation.n_signal": 300,
        "simulation.chunk_events": 5000,
        "simulation.signal_modes": {"na64e": ["brem"], "na64mu": ["zprime"], "na64h": ["eta"]},
        "simulation.signal_masses_gev": {"brem": [0.01], "zprime": [0.05]},
        # the e- signal uses the signal step's cascade table (cache/): a small cascade keeps tests fast
        "signal.cascade": {"n_full": 0, "n_high": 3000, "e_split_gev": 1.0, "seed": 1},
    }
    over.update({f"simulation.{k}": v for k, v in sim.items()})
    return config.load_config(DEFAULT, over)


def _clear_cache():
    sim_cli._MODELS.clear()
    sim_cli._COUNTS.clear()


def read_all(folder: Path, rel: str) -> dict[str, np.ndarray]:
    with uproot.open(folder / rel) as f:
        return f["events"].arrays(library="np")


@pytest.fixture(scope="module")
def na64e_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim")
    cfg = small_cfg(tmp)
    _clear_cache()
    man = sim_cli.simulate(cfg, "na64e", "2016-2022", progress=False)
    return cfg, man, tmp / "default" / "ntuples" / "na64e" / "2016-2022"


def test_simulated_files_round_trip_through_the_event_schema(na64e_run):
    cfg, man, folder = na64e_run
    assert (folder / "manifest.json").exists()
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["samples"].keys() == man["samples"].keys()
    for name, s in man["samples"].items():
        n = 0
        for rel in s["files"]:
            cols = events.read_events(folder / rel, "electron", truth=True)   # schema check included
            assert set(cols) == set(events.branch_names("electron", truth=True))
            for b in events.branches("electron", truth=True):
                assert cols[b.name].dtype == np.dtype(b.dtype), b.name
            n += len(cols["event_number"])
        assert n == s["n_events"], name
    # the chunk written is exactly what the generator makes for that chunk
    model = run_model.build_model(cfg, "na64e", "2016-2022")
    again = generator.mc_chunk(model, "dimuon", 0, 1)
    back = read_all(folder, man["samples"]["mc_dimuon"]["files"][0])
    for k, t in events.numpy_types("electron", truth=True).items():
        np.testing.assert_array_equal(back[k], again[k].astype(t), err_msg=k)


def test_same_seed_gives_identical_branches_and_other_seed_differs(na64e_run, tmp_path):
    cfg, man, folder = na64e_run
    cfg2 = small_cfg(tmp_path / "a")
    _clear_cache()
    man2 = sim_cli.simulate(cfg2, "na64e", "2016-2022", progress=False)
    folder2 = tmp_path / "a" / "default" / "ntuples" / "na64e" / "2016-2022"
    for name in ("data", "mc_upstream_interaction", "signal_brem_m0.01"):
        assert man2["samples"][name]["files"] == man["samples"][name]["files"]
        for rel in man["samples"][name]["files"]:
            a, b = read_all(folder, rel), read_all(folder2, rel)
            for k in a:
                assert a[k].tobytes() == b[k].tobytes(), (name, k)
    cfg3 = config.load_config(DEFAULT, {"results_root": str(tmp_path / "b"), "seed": 7,
                                        "analyses.na64e.runs.2016-2022.n_ot": 1.0e7,
                                        "simulation.n_pilot": 10000, "simulation.n_mc": 1500,
                                        "simulation.signal_modes": {"na64e": []}})
    _clear_cache()
    sim_cli.simulate(cfg3, "na64e", "2016-2022", progress=False)
    folder3 = tmp_path / "b" / "default" / "ntuples" / "na64e" / "2016-2022"
    a, c = read_all(folder, "data/chunk_0000.root"), read_all(folder3, "data/chunk_0000.root")
    assert not np.array_equal(a["ecal_gev"][:100], c["ecal_gev"][:100])


def test_pieces_merged_equal_the_single_run(na64e_run, tmp_path):
    _, man, folder = na64e_run
    cfg = small_cfg(tmp_path)
    _clear_cache()
    parts = [sim_cli.simulate(cfg, "na64e", "2016-2022", piece=i, pieces=3, progress=False) for i in range(3)]
    merged = merge.merge_manifests(parts)
    assert merged["samples"].keys() == man["samples"].keys()
    folder2 = tmp_path / "default" / "ntuples" / "na64e" / "2016-2022"
    for name, s in man["samples"].items():
        assert merged["samples"][name]["files"] == sorted(s["files"])
        assert merged["samples"][name]["n_events"] == s["n_events"]
    for rel in man["samples"]["data"]["files"]:
        a, b = read_all(folder, rel), read_all(folder2, rel)
        assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(NA64Error, match="pieces"):
        merge.merge_manifests(parts[:2])


def test_interrupted_run_leaves_no_manifest_and_no_partial_file(tmp_path, monkeypatch):
    cfg = small_cfg(tmp_path)
    _clear_cache()
    real = writer.run_task
    calls = {"n": 0}

    def dying(model, counts, task, outdir):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(model, counts, task, outdir)

    monkeypatch.setattr(writer, "run_task", dying)
    with pytest.raises(KeyboardInterrupt):
        sim_cli.simulate(cfg, "na64e", "2016-2022", progress=False)
    folder = tmp_path / "default" / "ntuples" / "na64e" / "2016-2022"
    assert not (folder / "manifest.json").exists()
    leftovers = [p for p in folder.rglob("*") if p.is_file() and p.suffix != ".root"]
    assert leftovers == []
    for p in folder.rglob("*.root"):      # every file present is complete and readable
        events.read_events(p, "electron", truth=True)


def test_unknown_run_and_unwritable_output_give_clear_errors(tmp_path):
    cfg = small_cfg(tmp_path)
    with pytest.raises(NA64Error, match="unknown run '1999'"):
        sim_cli.simulate(cfg, "na64e", "1999", progress=False)
    with pytest.raises(NA64Error, match="unknown analysis 'na64x'"):
        sim_cli.simulate(cfg, "na64x", "2022", progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg["results_root"] = str(blocker)
    with pytest.raises(NA64Error, match="not writable"):
        sim_cli.simulate(cfg, "na64e", "2016-2022", progress=False)


def test_every_process_with_expected_events_is_present_in_data(na64e_run):
    _, man, _ = na64e_run
    data = man["samples"]["data"]
    procs = data["processes"]
    names = {p.name for p in processes.processes_for("electron", "e-", 100.0)}
    assert names <= set(procs)
    for name in names:
        if procs[name]["expected"] >= 5:   # physics-triggered events expected: Poisson(>= 5) = 0 has p < 0.007
            assert procs[name]["n_events"] > 0, name
        # every process has its weighted MC sample whose weights sum to the expected triggered events
        mc = man["samples"][f"mc_{name}"]
        if mc["normalisation"] == "triggered":
            assert mc["sum_weights"] == pytest.approx(procs[name]["expected"], rel=0.15), name
    assert procs["em_shower"]["n_events"] == data["n_calibration"] - sum(
        procs[k]["n_events"] - procs[k]["drawn"] for k in procs if k != "em_shower")


def _calibration(cfg, analysis, run, n):
    model = run_model.build_model(cfg, analysis, run)
    counts = {k: 0 for k in model.rates}
    counts["__calibration__"] = n
    return model, generator.data_chunk(model, counts, 0, 1)


def test_ecal_resolution_at_100gev_from_calibration_stream(tmp_path):
    cfg = small_cfg(tmp_path)
    model, cols = _calibration(cfg, "na64e", "2016-2022", 20000)
    em = (cols["true_process"] == events.PROCESSES["em_shower"]) & (
        (cols["trigger_bits"] & events.TRIGGER_CALIBRATION) > 0)
    r = cols["ecal_gev"][em] / 100.0
    # robust sigma (central 68%); expected: 10%/sqrt(100) (+) 2% (+) beam spread 0.5% (+) noise
    sigma = 0.5 * (np.quantile(r, 0.84) - np.quantile(r, 0.16))
    expected = np.sqrt(detector.ECAL_STOCH**2 / 100 + detector.ECAL_CONST**2 + detector.BEAM_SPREAD_REL**2
                       + (detector.ECAL_NOISE_GEV / 100) ** 2)
    assert 0.0225 < expected < 0.0235
    assert sigma == pytest.approx(expected, rel=0.04)
    assert np.median(r) == pytest.approx(1.0, abs=0.002)


@pytest.mark.parametrize("analysis,run,fraction", [("na64e", "2016-2022", 0.004), ("na64e_plus", "2022", 0.04)])
def test_hadron_contamination_fraction_of_the_beam(tmp_path, analysis, run, fraction):
    cfg = small_cfg(tmp_path)
    _, cols = _calibration(cfg, analysis, run, 40000)
    n = len(cols["true_process"])
    k = int(np.sum(cols["true_process"] == events.PROCESSES["hadron_contamination"]))
    sd = np.sqrt(n * fraction * (1 - fraction))
    assert abs(k - n * fraction) < 4.5 * sd
    # hadrons give no synchrotron radiation: the SRD tags < 1e-3 of them (pi/e rejection [paper])
    had = cols["true_process"] == events.PROCESSES["hadron_contamination"]
    tag = np.ones(n, bool)
    for i in (1, 2, 3):
        tag &= (cols[f"srd{i}_mev"] > 1.0) & (cols[f"srd{i}_mev"] < 120.0)
    assert tag[had].sum() <= 1
    em = cols["true_process"] == events.PROCESSES["em_shower"]
    assert tag[em].mean() > 0.93     # SRD efficiency > 0.95 per electron [paper], 3 modules


def test_dimuon_rate_per_eot_in_the_data_stream(tmp_path):
    cfg = small_cfg(tmp_path)
    cfg["analyses"]["na64e"]["runs"]["2016-2022"]["n_ot"] = 3.0e7
    model = run_model.build_model(cfg, "na64e", "2016-2022")
    # independent P(trigger) of a dimuon event, from a fresh unconditioned sample
    rng = np.random.default_rng(11)
    t = processes_electron.dimuon(rng, 40000, model.ctx())
    cols = detector.respond(rng, t, setup="electron", run_number=2016, vhcal=False)
    p_trig = trigger.physics_trigger(cols, "electron", 100.0).mean()
    counts = generator.data_counts(model)
    counts = {k: (v if k == "dimuon" else 0) for k, v in counts.items()}
    data = generator.data_chunk(model, counts, 0, 1)
    n_mumu = int(np.sum(data["true_process"] == events.PROCESSES["dimuon"]))
    mu = model.n_ot * 1e-5 * p_trig                     # 1e-5 per EOT [paper]
    assert abs(n_mumu - mu) < 4.0 * np.sqrt(mu) + 0.02 * mu
    rate = n_mumu / (model.n_ot * p_trig)
    assert rate == pytest.approx(1e-5, rel=4.0 / np.sqrt(mu) + 0.02)


def test_zone_populations_in_the_ecal_hcal_plane(tmp_path):
    cfg = small_cfg(tmp_path)
    model = run_model.build_model(cfg, "na64e", "2016-2022")
    rng = np.random.default_rng(5)
    cols = {}
    for name in ("dimuon", "hadron_electroproduction", "pileup", "em_shower"):
        t = getattr(processes, name)(rng, 5000, model.ctx())
        cols[name] = detector.respond(rng, t, setup="electron", run_number=2016, vhcal=False)
    e0 = 100.0

    def hcal(c):
        return trigger.hcal_sum(c)

    # zone I: two MIPs in each of the 4 modules, ~10 GeV in total [paper]
    assert np.median(hcal(cols["dimuon"])) == pytest.approx(10.0, rel=0.15)
    assert np.mean((hcal(cols["dimuon"]) > 6) & (hcal(cols["dimuon"]) < 16)) > 0.9
    # zone II: E_ECAL + E_HCAL ~ E0
    s2 = (cols["hadron_electroproduction"]["ecal_gev"] + hcal(cols["hadron_electroproduction"])) / e0
    assert np.mean(np.abs(s2 - 1) < 0.3) > 0.85 and np.mean(hcal(cols["hadron_electroproduction"]) > 5) > 0.9
    # zone III: the sum exceeds E0
    s3 = (cols["pileup"]["ecal_gev"] + hcal(cols["pileup"])) / e0
    assert np.mean(s3 > 1.1) > 0.85
    # bulk: E_ECAL ~ E0, HCAL empty ("zero energy" < 1 GeV [paper])
    assert np.mean(hcal(cols["em_shower"]) < 1.0) > 0.999
    assert np.mean(np.abs(cols["em_shower"]["ecal_gev"] / e0 - 1) < 0.1) > 0.999


def test_upstream_interactions_populate_both_side_bands_and_the_box_factorises(tmp_path):
    cfg = small_cfg(tmp_path, n_mc=10000)
    model = run_model.build_model(cfg, "na64e", "2016-2022")
    c = generator.mc_chunk(model, "upstream_interaction", 0, 1)
    sel = trigger.reference_box(dict(c, **{f"hcal{k}_gev": np.zeros_like(c["weight"]) for k in (1, 2, 3, 4)}),
                                "electron", 100.0, 1e9)
    e, h, w = c["ecal_gev"], trigger.hcal_sum(c), c["weight"]
    box = w[sel & (e < 50) & (h < 1)].sum()
    sb_h, sb_e, ctl = (w[sel & (e < 50) & (h > 1)].sum(), w[sel & (e > 50) & (h < 1)].sum(),
                       w[sel & (e > 50) & (h > 1)].sum())
    assert min(np.sum(sel & (e < 50) & (h < 1)), np.sum(sel & (e < 50) & (h > 1)),
               np.sum(sel & (e > 50) & (h < 1))) > 20        # raw MC events in each region
    assert box == pytest.approx(sb_h * sb_e / ctl, rel=0.5)   # ABCD: E_ECAL and E_HCAL independent
    # the expected box background at the published exposure is the published one (0.16 per 9.37e11 EOT)
    rate = model.rates["upstream_interaction"]
    per_ot = box / (model.n_ot * rate.scale)
    assert per_ot * 9.37e11 == pytest.approx(0.16, rel=0.5)


def test_muon_momentum_tails_follow_the_student_t_model(tmp_path):
    cfg = small_cfg(tmp_path)
    model = run_model.build_model(cfg, "na64mu", "2022")
    rng = np.random.default_rng(3)
    n = 60000
    t = processes_muon.momentum_misreco(rng, n, model.ctx())
    c = detector.respond(rng, t, setup="muon", run_number=2022, vhcal=False)
    delta = c["ms2_momentum_gev"] / t["p_out_true_gev"] - 1
    for x in (0.1, 0.2, 0.4):
        expected = n * processes_muon.student2_abs_sf(x / processes_muon.MS_TAIL_SCALE)
        k = np.sum(delta < -x)
        assert abs(k - expected) < 4.5 * np.sqrt(expected) + 0.05 * expected, x
    tn = processes_muon.muon_nominal(rng, n, model.ctx())
    cn = detector.respond(rng, tn, setup="muon", run_number=2022, vhcal=False)
    core = cn["ms2_momentum_gev"] / tn["p_out_true_gev"] - 1
    assert np.std(core) == pytest.approx(detector.MS_RES_REL, rel=0.05)
    assert np.mean(core < -0.5) == 0       # no tail in the nominal muons
    # the tail component used for trigger-conditioned sampling has the same law above its cut
    tt = processes_muon._student2_abs_above(rng, n, processes_muon.MS_TAIL_TRIGGERABLE)
    frac = np.mean(tt > 20) * processes_muon.student2_abs_sf(10)
    assert frac == pytest.approx(processes_muon.student2_abs_sf(20), rel=0.1)


def test_signal_emitted_energy_spectrum_follows_dsigma_dx(tmp_path):
    from na64flow.physics import brem
    from na64flow.physics.constants import M_MU_GEV

    cfg = small_cfg(tmp_path)
    model = run_model.build_model(cfg, "na64mu", "2022")
    mass = 0.05
    cols = generator.signal_columns(model, np.random.default_rng(9), "zprime", mass, 4000)
    x = cols["true_mediator_e_gev"] / model.e0_gev
    x_lo = model.e_miss_min_gev() / model.e0_gev
    x_hi = 1 - M_MU_GEV / model.e0_gev

    def pdf(u):
        return brem.dsigma_dx(u, model.e0_gev, mass, M_MU_GEV)

    # cumulative trapezoid on a fine grid in ln(1 - x) (the full-WW dsigma/dx is vectorised, quad is slow)
    v = np.linspace(np.log1p(-x_hi), np.log1p(-x_lo), 4001)
    xs = -np.expm1(v)
    dens = pdf(xs) * (1 - xs)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(v))])
    grid, cdf_vals = xs[::-1], (1.0 - cum / cum[-1])[::-1]
    p = stats.kstest(x, lambda v: np.interp(v, grid, cdf_vals)).pvalue
    assert p > 1e-3
    assert np.all(cols["true_mediator_e_gev"] > model.e_miss_min_gev())
    # the simulated outgoing muon carries the rest: p_out ~ E0 - E_Z' (MS2 resolution 2%)
    assert np.median(cols["ms2_momentum_gev"] / (model.e0_gev - cols["true_mediator_e_gev"] - 2)) == \
        pytest.approx(1.0, abs=0.01)


def test_injected_signal_events_appear_in_the_data_stream(tmp_path):
    inject = [{"analysis": "na64e", "run": "2016-2022", "mode": "brem", "mass_gev": 0.01, "n_events": 40}]
    cfg = small_cfg(tmp_path, inject=inject)
    model = run_model.build_model(cfg, "na64e", "2016-2022")
    counts = {k: 0 for k in generator.data_counts(model)}
    data = generator.data_chunk(model, counts, 0, 1, inject=inject)
    sig = data["true_process"] == events.PROCESSES["signal"]
    assert 35 <= sig.sum() <= 40          # all but the few failing the pre-shower trigger
    assert np.all(data["ecal_gev"][sig] < 55.0)


def test_rate_scale_of_unknown_process_is_rejected(tmp_path):
    cfg = small_cfg(tmp_path, rate_scale={"upstream_interactoin": 10.0})
    with pytest.raises(NA64Error, match="upstream_interactoin"):
        run_model.build_model(cfg, "na64e", "2016-2022")


def test_hadron_setup_charge_exchange_triggers_and_pion_showers_do_not_disappear(tmp_path):
    cfg = small_cfg(tmp_path)
    model = run_model.build_model(cfg, "na64h", "2022")
    rng = np.random.default_rng(21)
    t = processes_hadron.pion_shower(rng, 50000, model.ctx())
    c = detector.respond(rng, t, setup="hadron", run_number=2022, vhcal=True)
    gone = (c["ecal_gev"] < 1) & (trigger.hcal_sum(c) < 1) & (c["veto_mip"] < 0.5)
    assert gone.sum() == 0                       # ordinary showers never fake a full disappearance
    trig = trigger.physics_trigger(c, "hadron", 50.0)
    # only the large-leak component (1e-3) fires the low-energy trigger
    assert trig.sum() < 5 * 50000 * processes_hadron.PION_BIG_LEAK_PROB
    t0 = processes_hadron.cex_pi0(rng, 5000, model.ctx())
    c0 = detector.respond(rng, t0, setup="hadron", run_number=2022, vhcal=True)
    assert trigger.physics_trigger(c0, "hadron", 50.0).mean() > 0.95
    assert np.median(c0["ecal_gev"]) == pytest.approx(50.0, rel=0.03)   # the pi0 takes ~all of E0


def test_manifest_states_how_mc_samples_reach_the_box(na64e_run):
    _, man, _ = na64e_run
    smp = man["samples"]
    assert smp["mc_hadron_contamination"]["box_topology"].startswith("importance-sampled")
    for name in ("em_shower", "hadron_electroproduction", "pileup"):
        assert smp[f"mc_{name}"]["box_topology"].startswith("none in the model"), name
    assert "box_topology" not in smp["mc_upstream_interaction"]
