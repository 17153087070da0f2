"""The plot step: plots from hand-made limit, cut-flow, background and histogram files (the (g-2)_mu
physics of the band: tests/test_g_minus_2.py)."""

from __future__ import annotations

import json

import pytest
from publish_fixtures import ecal_hcal_hist, make_config, populate

from na64flow import NA64Error, histograms, plotting


@pytest.fixture
def cfg_png(tmp_path):
    cfg = make_config(tmp_path)
    cfg["publish"]["formats"] = ["png"]     # keep the tests fast; PDF is tested once below
    cfg["publish"]["dpi"] = 50
    return cfg


def test_limit_plots_from_hand_made_limit_files(cfg_png):
    populate(cfg_png)
    p = plotting.make_all(cfg_png)
    made = {f"{m['category']}-{m['name']}" for m in p.made}
    for name in ("na64e-dark_photon_limits", "na64e_plus-dark_photon_limits", "na64mu-dark_photon_limits",
                 "combined-dark_photon_limits", "combined-dark_photon_beams", "combined-lmu_ltau_beams",
                 "na64mu-lmu_ltau_limits",
                 "combined-lmu_ltau_limits", "combined-dark_photon_y_alphaD_0p1",
                 "combined-dark_photon_y_alphaD_0p5", "na64h-meson_br_limits",
                 "na64e-cutflow_2016_2022", "na64mu-background_2022"):
        assert name in made, name
        assert (p.out_dir / f"{name}.png").stat().st_size > 1000
    index = json.loads((p.out_dir / "index.json").read_text())
    assert len(index["plots"]) == len(p.made)
    # no histogram files were made: the E_ECAL-E_HCAL plots are reported missing, by file
    assert any("histograms/na64e/2016-2022.pkl" in m for m in index["missing"])


def _plane_plot(cfg: dict):
    """The (E_ECAL, E_HCAL) plot of a blinded na64e 2016-2022 histogram file holding one data plane."""
    path = plotting.paths.histograms_path(cfg, "na64e", "2016-2022")
    histograms.save(path, {"schema_version": histograms.SCHEMA_VERSION, "analysis": "na64e", "run": "2016-2022",
                           "blinded": True, "n_ot": 2e9, "box": {},
                           "samples": {"data": {"cutflow": {}, "regions": {}, "hists": {"ecal_hcal": ecal_hcal_hist()}}}})
    p = plotting.Plotter(cfg, plotting.paths.plots_dir(cfg))
    plotting.plot_ecal_hcal(p, "na64e", "2016-2022")
    return p


def test_ecal_hcal_plane_plotted_with_box_from_histogram_file(cfg_png):
    p = _plane_plot(cfg_png)
    assert [m["name"] for m in p.made] == ["ecal_hcal_2016_2022"]
    assert "blinded" in p.made[0]["caption"]
    assert (p.out_dir / "na64e-ecal_hcal_2016_2022.png").exists()


def test_pdf_and_png_written_for_each_plot(tmp_path):
    cfg = make_config(tmp_path)
    populate(cfg)
    p = plotting.Plotter(cfg, tmp_path / "out")
    plotting.plot_coupling_limits(p, "na64mu", "lmu_ltau")
    assert sorted(p.made[0]["files"]) == ["na64mu-lmu_ltau_limits.pdf", "na64mu-lmu_ltau_limits.png"]
    assert (tmp_path / "out" / "na64mu-lmu_ltau_limits.pdf").read_bytes()[:4] == b"%PDF"


def test_plot_step_fails_naming_inputs_when_nothing_exists(cfg_png):
    with pytest.raises(NA64Error, match="no plot could be made"):
        import argparse
        args = argparse.Namespace(config=cfg_png["_path"], overrides=[f"results_root={cfg_png['results_root']}"],
                                  out_dir=None)
        plotting.run(args)


def test_published_config_plots_background_tables_without_result_files(tmp_path):
    cfg = make_config(tmp_path, "published.yaml")
    cfg["publish"]["formats"] = ["png"]
    p = plotting.Plotter(cfg, tmp_path / "out")
    plotting.plot_background(p, "na64e", "2016-2022")
    assert "total 0.51" in p.made[0]["caption"]


def test_published_reference_limits_drawn_on_meson_plot(cfg_png):
    populate(cfg_png)
    cfg_png["publish"]["reference_limits"] = [
        {"analysis": "na64h", "model": "eta_invisible", "meson": "eta", "value": 1.1e-4, "reference": "PRL 133 (2024) 121803"}]
    p = plotting.Plotter(cfg_png, plotting.paths.plots_dir(cfg_png))
    plotting.plot_meson_br(p, "na64h")
    assert "PRL 133 (2024) 121803" in p.made[0]["caption"]


def test_blinded_histogram_with_entries_in_box_is_refused(cfg_png):
    h = ecal_hcal_hist()
    h.fill([10.0], [0.5])          # one data event inside the box E_ECAL < 50, E_HCAL < 1
    path = plotting.paths.histograms_path(cfg_png, "na64e", "2016-2022")
    histograms.save(path, {"schema_version": histograms.SCHEMA_VERSION, "analysis": "na64e", "run": "2016-2022",
                           "blinded": True, "n_ot": 2e9, "box": {},
                           "samples": {"data": {"cutflow": {}, "regions": {}, "hists": {"ecal_hcal": h}}}})
    p = plotting.Plotter(cfg_png, plotting.paths.plots_dir(cfg_png))
    with pytest.raises(NA64Error, match="inside the signal box"):
        plotting.plot_ecal_hcal(p, "na64e", "2016-2022")
    assert not list(p.out_dir.glob("*ecal_hcal*"))


def test_plots_made_per_category_and_gathered_equal_the_single_plot_step(cfg_png, tmp_path):
    """The workflow's one job per category plus the gathering give the same files and index as one call."""
    populate(cfg_png)
    whole = plotting.make_all(cfg_png, tmp_path / "whole")
    parts = [tmp_path / "parts" / c for c in plotting.categories(cfg_png)]
    for d in parts:
        plotting.make_all(cfg_png, d, category=d.name)
    index = plotting.gather(parts, tmp_path / "joined")
    key = lambda plots: sorted(plots, key=lambda m: (m["category"], m["name"]))   # noqa: E731
    assert key(index["plots"]) == key(whole.made) and sorted(index["missing"]) == sorted(whole.missing)
    assert whole.made and {m["category"] for m in whole.made} <= set(plotting.categories(cfg_png))
    files = sorted(f.name for f in (tmp_path / "joined").iterdir())
    assert files == sorted(f.name for f in (tmp_path / "whole").iterdir())
    for f in files:
        if f.endswith(".png"):
            assert (tmp_path / "joined" / f).read_bytes() == (tmp_path / "whole" / f).read_bytes(), f


def test_gather_names_the_category_whose_plots_are_missing(cfg_png, tmp_path):
    (tmp_path / "na64e").mkdir()
    with pytest.raises(NA64Error, match=r"na64e/index.json: missing \(made by `na64flow plot --category na64e`\)"):
        plotting.gather([tmp_path / "na64e"], tmp_path / "joined")


def test_ecal_hcal_bins_are_one_image_in_the_pdf(cfg_png):
    """The (E_ECAL, E_HCAL) bins are rasterised in vector output: the PDF holds an image, not a path per bin."""
    cfg_png["publish"]["formats"] = ["pdf"]
    p = _plane_plot(cfg_png)
    pdf = (p.out_dir / "na64e-ecal_hcal_2016_2022.pdf").read_bytes()
    # the colour bar is an image anyway (matplotlib rasterises long bars); the bins add one more
    assert pdf.count(b"/Subtype /Image") >= 2 and len(pdf) < 100_000   # 3e5 bytes with a path per bin


def test_a_failing_plot_leaves_the_plot_folder_as_it_was(cfg_png, tmp_path, monkeypatch):
    """A plot that fails after others were drawn: the folder keeps its previous plots and index, nothing
    half-replaced, and no staging folder is left (before, the plots drawn so far replaced their old files)."""
    from na64flow.plotting import limits as plot_limits

    populate(cfg_png)
    out = tmp_path / "plots"
    plotting.make_all(cfg_png, out)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    assert len(before) > 3
    calls = {"n": 0}
    original = plot_limits.plot_coupling_limits

    def fails_second_time(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("planted plotting failure")
        return original(*args, **kwargs)

    monkeypatch.setattr(plotting, "plot_coupling_limits", fails_second_time)
    cfg_png["publish"]["label_text"] = "Changed"     # the plots of this call differ from the folder's
    with pytest.raises(RuntimeError, match="planted"):
        plotting.make_all(cfg_png, out)
    assert calls["n"] == 2
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert not [d for d in tmp_path.iterdir() if d.name.startswith(".plots-")]
