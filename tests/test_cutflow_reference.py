"""Regression: cut-flows, regions and histogram sums/digests equal the committed references.

References: tests/reference/<analysis>_<run>.json, rewritten on purpose with
``python tests/reference/rewrite_references.py`` (see that file).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "reference"
_spec = importlib.util.spec_from_file_location("rewrite_references", HERE / "rewrite_references.py")
rr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rr)


@pytest.fixture(scope="module")
def current(tmp_path_factory):
    return rr.compute(tmp_path_factory.mktemp("ref"))


def test_every_reference_run_has_a_committed_reference(current):
    missing = [n for n in current if not (HERE / f"{n}.json").is_file()]
    assert not missing, f"no reference for {missing}: run python tests/reference/rewrite_references.py"


@pytest.mark.parametrize("name", sorted(p.stem for p in HERE.glob("*.json")))
def test_cutflow_regions_and_histograms_match_reference(current, name):
    ref = json.loads((HERE / f"{name}.json").read_text())
    got = current[name]
    for sample, r in ref["samples"].items():
        g = got["samples"][sample]
        assert g["cutflow"]["names"] == r["cutflow"]["names"], sample
        assert g["cutflow"]["raw"] == r["cutflow"]["raw"], sample
        assert g["cutflow"]["weighted"] == pytest.approx(r["cutflow"]["weighted"], rel=1e-9), sample
        for region, v in r["regions"].items():
            assert g["regions"][region]["raw"] == v["raw"], (sample, region)
            assert g["regions"][region]["weighted"] == pytest.approx(v["weighted"], rel=1e-9)
        for h, v in r["hists"].items():
            assert g["hists"][h]["sum"] == pytest.approx(v["sum"], rel=1e-9), (sample, h)
            assert g["hists"][h]["digest"] == v["digest"], (sample, h)
    assert set(got["samples"]) == set(ref["samples"])
