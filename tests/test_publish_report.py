"""scripts/check_report.py: a page rendered by JavaScript in headless Chromium is checked for its items.

The full `snakemake --report` check runs in the workflow (docs/publishing.md); here a small page whose
text exists only after its script ran shows that the DOM is taken after rendering."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_report", ROOT / "scripts" / "check_report.py")
check_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_report)

PAGE = """<!doctype html><html><body><div id="app">loading</div>
<script>var data = {"caption": "kinetic mixing limits"};
document.getElementById("app").textContent = "NA64 report: na64e na64mu combined categories rendered";</script>
</body></html>"""


def test_check_dom_reports_missing_items_and_ignores_script_text():
    dom = "<html><body><p>na64e results of the electron beam search</p><script>var x = 'na64mu';</script></body></html>"
    assert check_report.check_dom(dom, ["na64e"]) == []
    problems = check_report.check_dom(dom, ["na64mu"])
    assert problems and "na64mu" in problems[0]
    assert check_report.check_dom(dom, [], ["na64mu"]) == []   # embedded data is searched in full


def test_check_dom_flags_empty_or_error_pages():
    assert any("empty" in p for p in check_report.check_dom("<html><body></body></html>", []))
    assert any("JavaScript error" in p for p in
               check_report.check_dom("<p>Uncaught TypeError: x is undefined in the report</p>", []))


@pytest.mark.skipif(check_report.find_chromium() is None, reason="Chromium not installed")
def test_javascript_rendered_text_found_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(PAGE)
    assert check_report.main([str(page), "--expect", "na64mu", "--expect", "rendered",
                              "--expect-data", "kinetic mixing", "--budget-ms", "2000"]) == 0
    assert check_report.main([str(page), "--expect", "loading", "--budget-ms", "2000"]) == 1


class _Snakemake:
    """Stand-in for the object Snakemake passes to caption templates (wildcards, params, config)."""

    def __init__(self, wildcards: dict, params: dict | None = None):
        self.wildcards, self.params, self.config = wildcards, params or {}, {"tag": "default"}


@pytest.mark.parametrize("name, words", [
    ("dark_photon_limits", "kinetic mixing"), ("dark_photon_beams", "each beam"),
    ("lmu_ltau_limits", "(g-2)_mu"), ("dark_photon_y_alphaD_0p5", "alpha_D = 0.5"),
    ("meson_br_limits", "eta -> invisible"), ("ecal_hcal_2016_2022", "run 2016_2022"),
    ("cutflow_2023", "Cut flow"), ("background_2022", "Expected background")])
def test_plot_caption_template_has_a_caption_per_plot_kind(name, words):
    import jinja2
    template = jinja2.Environment().from_string((ROOT / "workflow" / "report" / "plots.rst").read_text())
    text = template.render(snakemake=_Snakemake({"category": "na64e", "name": name}))
    assert words in text


def test_cutflow_caption_falls_back_to_rule_params_for_the_analysis():
    import jinja2
    template = jinja2.Environment().from_string((ROOT / "workflow" / "report" / "cutflow.rst").read_text())
    assert "na64mu" in template.render(snakemake=_Snakemake({}, {"analysis": "na64mu"}))
