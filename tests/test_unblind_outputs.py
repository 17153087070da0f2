"""The observed products of `unblind` beyond the counts and the analysis limit tables: the observed pyhf
likelihoods (BkgOnly with the box counts + the signal patchset, verified by pyhf) and the observed per-run
limit tables. Both are absent while blinded, pinned/refused like the rest, and never written on refusal."""

from __future__ import annotations

import json

import pyhf
import pytest
from test_unblind_guard import (
    SETTINGS,
    _blinded_analysis,
    _refused,
    _rows,
    _ucfg,
    _written_by_unblind,
    install_fake_box,
)

from na64flow import cli, paths, registry
from na64flow.blinding import freeze
from na64flow.stats import compute_limits
from na64flow.stats.model import channel_name
from na64flow.unblind import unblind

COUNTS = {("na64mu", "2022"): 3, ("na64h", "2022"): 1, ("na64e", "2023"): 2}


@pytest.fixture
def fake_box(monkeypatch):
    return lambda counts: install_fake_box(monkeypatch, counts)    # test_unblind_guard's


def _observed_view(cfg):
    return paths.observed_view(cfg)


def _with_run_tables(tmp_path, cfg):
    """The per-run tables of na64e (two runs) and na64mu (one run) for lmu_ltau, then a new freeze."""
    for a in ("na64e", "na64mu"):
        assert cli.main(["limits", "-c", cfg["_path"], "--set", f"results_root={tmp_path}",
                         *[x for k, v in SETTINGS.items() for x in ("--set", f"{k}={str(v).lower()}")],
                         "--analysis", a, "--model", "lmu_ltau"]) == 0
    freeze(cfg)
    return cfg


def test_no_observed_likelihood_or_per_run_table_exists_while_blinded(tmp_path):
    cfg = _with_run_tables(tmp_path, _blinded_analysis(tmp_path))
    view = _observed_view(cfg)
    for a in registry.likelihood_analyses(cfg):
        assert not paths.likelihood_dir(view, a).exists()
    assert not paths.run_limits_path(view, "na64e", "lmu_ltau", "2023").exists()
    # the blinded per-run tables are pinned by the freeze (their expected columns are what unblind keeps)
    record = json.loads(paths.freeze_path(cfg).read_text())
    assert {"na64e/lmu_ltau_2016-2022.csv", "na64e/lmu_ltau_2023.csv", "na64mu/lmu_ltau_2022.csv"} \
        <= set(record["expected_limits"])


def test_refused_unblinding_writes_no_observed_likelihood_or_per_run_table(tmp_path):
    cfg = _with_run_tables(tmp_path, _blinded_analysis(tmp_path))
    p = paths.run_limits_path(cfg, "na64e", "lmu_ltau", "2023")
    lines = p.read_text().splitlines()
    first = lines[1].split(",")
    first[1] = f"{float(first[1]) * 0.5:.6g}"            # a per-run expected limit edited after the freeze
    p.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    _refused(tmp_path, cfg, r"expected limits na64e/lmu_ltau_2023.csv: changed since the freeze")
    assert _written_by_unblind(cfg) == []


def test_observed_likelihoods_hold_the_box_counts_and_verify_with_pyhf(tmp_path, fake_box):
    cfg = _blinded_analysis(tmp_path)
    fake_box(COUNTS)
    audit = unblind(_ucfg(tmp_path))
    view = _observed_view(cfg)
    from na64flow.publish import likelihoods as blinded_likelihoods
    for a in registry.likelihood_analyses(cfg):
        bkg_path, ps_path = (paths.likelihood_path(view, a, n) for n in ("BkgOnly.json", "patchset.json"))
        assert {str(bkg_path.relative_to(paths.results_dir(cfg))),
                str(ps_path.relative_to(paths.results_dir(cfg)))} <= set(audit["written"])
        bkg, ps = json.loads(bkg_path.read_text()), pyhf.PatchSet(json.loads(ps_path.read_text()))
        ps.verify(bkg)                                   # the digest of this BkgOnly
        ws = pyhf.Workspace(bkg)
        expected = {channel_name(x, r): COUNTS.get((x, r), 0) for x in cfg["analyses"]
                    for r in cfg["analyses"][x]["runs"]}
        assert {o["name"]: o["data"] for o in bkg["observations"]} == {
            ch["name"]: [float(expected[ch["name"]])] for ch in bkg["channels"]}
        assert "observed box counts" in ps.description
        patched = ps.apply(ws, ps.patches[0].name)       # a full workspace whose data are the box counts
        model = patched.model()
        assert model.config.poi_name == "mu"
        assert [float(x) for x in patched.data(model, include_auxdata=False)] == \
            [float(expected[c]) for c in model.config.channels]
        # the same channels, signal patches and measurements as the blinded (Asimov) likelihood
        blinded_bkg, blinded_ps = blinded_likelihoods(cfg, a)
        assert bkg["channels"] == blinded_bkg["channels"] and bkg["measurements"] == blinded_bkg["measurements"]
        assert [p["patch"] for p in json.loads(ps_path.read_text())["patches"]] == \
            [p["patch"] for p in blinded_ps["patches"]]
        assert blinded_bkg["observations"] != bkg["observations"] or not any(COUNTS.get(k) for k in expected)


def test_observed_per_run_tables_keep_the_frozen_expected_columns_and_fill_obs(tmp_path, fake_box):
    cfg = _with_run_tables(tmp_path, _blinded_analysis(tmp_path))
    blinded = {r: p.read_bytes() for r in ("2016-2022", "2023")
               for p in [paths.run_limits_path(cfg, "na64e", "lmu_ltau", r)]}
    fake_box(COUNTS)
    audit = unblind(_ucfg(tmp_path))
    view = _observed_view(cfg)
    for r in ("2016-2022", "2023"):
        out = paths.run_limits_path(view, "na64e", "lmu_ltau", r)
        assert str(out.relative_to(paths.results_dir(cfg))) in audit["written"]
        obs_rows, frozen_rows = _rows(out), _rows(paths.run_limits_path(cfg, "na64e", "lmu_ltau", r))
        assert list(obs_rows[0]) == list(frozen_rows[0])                      # same columns
        assert [{k: v for k, v in o.items() if k != "obs"} for o in obs_rows] == \
            [{k: v for k, v in f.items() if k != "obs"} for f in frozen_rows]
        assert all(f["obs"] == "" for f in frozen_rows) and all(o["obs"] != "" for o in obs_rows)
        # the run's channel alone with its count given explicitly reproduces the observed column
        counts = {(a, x): n for a, runs in audit["counts"].items() for x, n in runs.items()}
        assert counts[("na64e", r)] == COUNTS.get(("na64e", r), 0)
        _, _, header, rows = compute_limits(cfg, "na64e", "lmu_ltau", observed=counts, runs=[r])
        assert [float(o["obs"]) for o in obs_rows] == pytest.approx([x[header.index("obs")] for x in rows], rel=1e-4)
        assert paths.run_limits_path(cfg, "na64e", "lmu_ltau", r).read_bytes() == blinded[r]   # untouched
    # 2 events where 2023 expects 0.5 weaken its limit; 0 in 2016-2022 does not
    r23 = _rows(paths.run_limits_path(view, "na64e", "lmu_ltau", "2023"))
    assert all(float(x["obs"]) > float(x["exp"]) for x in r23)
    # an analysis with one run: its per-run observed table is its observed table
    one = _rows(paths.run_limits_path(view, "na64mu", "lmu_ltau", "2022"))
    assert [x["obs"] for x in one] == [x["obs"] for x in _rows(paths.limits_path(view, "na64mu", "lmu_ltau"))]


def _plotter(tmp_path):
    from publish_fixtures import make_config, populate

    from na64flow import plotting

    cfg = make_config(tmp_path)
    cfg["publish"].update(formats=["png"], dpi=40)
    populate(cfg)
    return cfg, plotting.Plotter(cfg, paths.plots_dir(cfg))


def _cutflow_csv(cfg, box_data):
    from publish_fixtures import CUTFLOW_HEADER, CUTFLOW_ROWS, write_csv

    rows = [r if r[:2] != ["data", "box"] else ["data", "box", box_data, "", "", "", box_data, "", "", ""]
            for r in CUTFLOW_ROWS]
    write_csv(paths.cutflow_path(cfg, "na64e", "2023", "csv"), CUTFLOW_HEADER, rows)


@pytest.mark.parametrize("unblinded", [False, True])
def test_plane_and_cutflow_captions_say_blinded_only_for_blinded_products(tmp_path, unblinded):
    from publish_fixtures import ecal_hcal_hist

    from na64flow import histograms, plotting

    cfg, p = _plotter(tmp_path)
    _cutflow_csv(cfg, 2 if unblinded else "blinded")
    data_hist = ecal_hcal_hist()
    if unblinded:
        data_hist.fill([30.0, 40.0], [0.5, 0.2])        # observed events inside the box
    histograms.save(paths.histograms_path(cfg, "na64e", "2023"), {
        "schema_version": histograms.SCHEMA_VERSION, "analysis": "na64e", "run": "2023", "blinded": not unblinded,
        "n_ot": 2e9, "box": {}, "samples": {
            "data": {"cutflow": {}, "regions": {}, "hists": {"ecal_hcal": data_hist}},
            "mc_dimuon": {"cutflow": {}, "regions": {}, "hists": {"ecal_hcal": ecal_hcal_hist() * 0.01}}}})
    plotting.plot_ecal_hcal(p, "na64e", "2023")
    plotting.plot_cutflow(p, "na64e", "2023")
    captions = {m["name"]: m["caption"] for m in p.made}
    for name in ("ecal_hcal_2023", "cutflow_2023"):
        assert ("blinded" in captions[name].lower()) is (not unblinded), (name, captions[name])
    if unblinded:
        assert "observed" in captions["cutflow_2023"]
