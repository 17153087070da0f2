"""Closure of the side-band method on a simulation-like toy and on the validation region next to the box."""

import pytest
from conftest import BoxGuard, poison_data_box

from na64flow import cli, closure, config, histograms, paths


def test_closure_passes_on_simulation_like_toy(cfg):
    hfile = closure.toy_histogram_file(seed=21, n_upstream=1000.0)
    rows = closure.closure_rows(cfg, "na64e", "2016-2022", hfile, n_toys=40, seed=1)
    tests = [r.get("test") for r in rows]
    assert "simulation mc_upstream_interaction" in tests and any(t.startswith("simulation all processes") for t in tests)
    assert any(r["kind"] == "toys" for r in rows) and any(str(t).startswith("data validation") for t in tests)
    for r in rows:
        assert r["passed"], r


def test_closure_fails_when_the_truth_disagrees(cfg):
    """A closure test that cannot fail is no test: double the simulated box truth and it must fail."""
    hfile = closure.toy_histogram_file(seed=22, n_upstream=1000.0)
    box = hfile["samples"]["mc_upstream_interaction"]["regions"]["box"]
    box["weighted"] *= 3.0
    rows = closure.closure_rows(cfg, "na64e", "2016-2022", hfile, n_toys=0, seed=1)
    row = next(r for r in rows if r["test"] == "simulation mc_upstream_interaction")
    assert abs(row["pull"]) > 3


def test_validation_truth_is_next_to_the_box_not_inside():
    hfile = closure.toy_histogram_file(seed=23, blinded=False)
    h = hfile["samples"]["data"]["hists"]["ecal_hcal"]
    cuts = type("C", (), {"ecal_max_gev": 50.0, "hcal_zero_gev": 1.0})
    n_val, _ = closure.validation_truth(h, "electron", cuts, 10.0)
    v = h.values()
    assert n_val == pytest.approx(v[50:60, :4].sum())
    h.view(flow=False)["value"][:50, :4] = 1e9     # poison the signal box
    assert closure.validation_truth(h, "electron", cuts, 10.0)[0] == pytest.approx(n_val)


def test_closure_cli_writes_tables_and_plots(tmp_config):
    path, raw = tmp_config()
    raw["background"]["closure"] = {"n_toys": 20}
    raw["analyses"]["na64e"]["runs"] = {"2016-2022": raw["analyses"]["na64e"]["runs"]["2016-2022"]}
    import yaml
    path.write_text(yaml.safe_dump(raw))
    cfg = config.load_config(path)
    histograms.save(paths.histograms_path(cfg, "na64e", "2016-2022"), closure.toy_histogram_file(seed=24))
    assert cli.main(["closure", "-c", str(path), "--analysis", "na64e"]) == 0
    base = paths.results_dir(cfg)
    csv_text = (base / "closure" / "na64e.csv").read_text()
    assert csv_text.startswith("analysis,run,test,estimate")
    assert (base / "closure" / "na64e.md").exists()
    for ext in ("pdf", "png"):
        assert (paths.plots_dir(cfg) / f"closure_na64e.{ext}").stat().st_size > 1000
    import csv
    import io
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(rows) == 3 and all(len(r) == 11 and r["pull"] != "" for r in rows)    # rows with a known truth
    toys = list(csv.DictReader(io.StringIO((base / "closure" / "na64e_toys.csv").read_text())))
    assert len(toys) == 1 and set(toys[0]) == set(closure.TOY_COLUMNS) and toys[0]["pull_width"] != ""
    md = (base / "closure" / "na64e.md").read_text()
    assert "## Toy closure of the central method" in md and "pull width" in md
    assert (base / "closure" / "na64e.tex").read_text().count(r"\begin{tabular}") == 2


def test_closure_never_reads_data_box_region_or_bins(cfg):
    clean = closure.toy_histogram_file(seed=25)
    poisoned = closure.toy_histogram_file(seed=25)
    poison_data_box(poisoned)
    poisoned["samples"]["data"]["regions"] = BoxGuard(poisoned["samples"]["data"]["regions"])
    a = closure.closure_rows(cfg, "na64e", "2016-2022", clean, n_toys=3, seed=2)
    b = closure.closure_rows(cfg, "na64e", "2016-2022", poisoned, n_toys=3, seed=2)
    assert a == b


def test_closure_toys_fail_when_the_quoted_error_is_four_times_too_large(cfg, monkeypatch):
    """Pull widths far from 1 fail: a transfer factor quoting 4x its real error gives toy width ~0.25."""
    from na64flow import fits
    hfile = closure.toy_histogram_file(seed=26, n_upstream=1000.0)
    good = closure.closure_rows(cfg, "na64e", "2016-2022", hfile, n_toys=30, seed=3)
    toy = next(r for r in good if r["kind"] == "toys")
    assert toy["passed"] and 0.8 <= toy["pull_width"] <= 1.2, toy
    real = fits.transfer_candidate

    def inflated(*a, **k):
        c = real(*a, **k)
        c.stat *= 4.0
        return c

    monkeypatch.setattr(fits, "transfer_candidate", inflated)
    bad = closure.closure_rows(cfg, "na64e", "2016-2022", hfile, n_toys=30, seed=3)
    toys = [r for r in bad if r["kind"] == "toys"]
    assert toys[0]["pull_width"] < 0.5 and not toys[0]["passed"] and "pull width" in toys[0]["reason"], toys


def _cfg_with_toys(cfg, n_toys):
    return dict(cfg, background=dict(config.section(cfg, "background"), closure={"n_toys": n_toys}))


def test_closure_shows_the_toy_rows_the_background_decided_with(cfg, monkeypatch):
    """The closure step reuses the background record's toy rows (same toys, same seed, same background
    settings and cuts) instead of running them again, and its table equals the one it computes without the
    record; other toy settings, edited background settings, or no record, run the toys."""
    from na64flow import background, contracts

    cfg = _cfg_with_toys(cfg, 12)
    hfile = closure.toy_histogram_file(seed=25, n_upstream=1000.0)
    seed = int(cfg["seed"])          # the background step's seed of the first run
    record = contracts.BackgroundEstimate.from_dict(
        background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile))
    computed = closure.closure_rows(cfg, "na64e", "2016-2022", hfile, n_toys=12, seed=seed)
    calls = []
    real = background.toys.toy_closure
    monkeypatch.setattr(background.toys, "toy_closure", lambda *a, **k: calls.append(a) or real(*a, **k))
    reused = closure.closure_rows(cfg, "na64e", "2016-2022", hfile, n_toys=12, seed=seed, background_record=record)
    assert calls == [] and any(r["kind"] == "toys" for r in reused)
    assert reused == computed                      # every row: toy rows and the rows using the central method
    closure.closure_rows(cfg, "na64e", "2016-2022", hfile, n_toys=12, seed=seed + 1, background_record=record)
    closure.closure_rows(cfg, "na64e", "2016-2022", hfile, n_toys=13, seed=seed, background_record=record)
    assert len(calls) >= 2                         # other seed, other number of toys: the toys run again
    n = len(calls)
    edited = dict(cfg, background=dict(config.section(cfg, "background"), power_law_offset_gev=2.0))
    closure.closure_rows(edited, "na64e", "2016-2022", hfile, n_toys=12, seed=seed, background_record=record)
    assert len(calls) > n                          # background settings edited after the record: run again


def test_the_central_method_read_back_from_toy_rows_is_the_decided_one():
    from na64flow import background

    t_ok, t_bad = {"method": "transfer", "passed": True}, {"method": "transfer", "passed": False}
    f_ok, f_bad = {"method": "fit", "passed": True}, {"method": "fit", "passed": False}
    assert background.central_of([t_ok]) == "transfer"
    assert background.central_of([t_bad, f_ok]) == "fit"            # refused and replaced
    assert background.central_of([t_bad, f_bad]) == "transfer"      # none passes: the configured one kept
    assert background.central_of([{"method": "fit", "passed": False}, {"method": "transfer", "passed": True}]) == "transfer"
