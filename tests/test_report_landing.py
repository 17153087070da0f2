"""The report's landing page tells whether the run is complete (issue 9): a report of a run whose
`publish` never ran says so, names the missing files, and shows the headline numbers that exist."""

from __future__ import annotations

import json

from na64flow import paths
from na64flow.report import landing_page, step_status


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_missing_publish_outputs_make_the_page_say_incomplete_and_name_them(cfg):
    res = paths.results_dir(cfg)
    limits = _write(res / "limits" / "na64e" / "dark_photon.csv",
                    "mass_gev,exp,exp_m2,exp_m1,exp_p1,exp_p2,obs\n0.0101,1e-5,5e-6,7e-6,2e-5,3e-5,\n1.0,1e-3,5e-4,7e-4,2e-3,3e-3,\n")
    expected = {"limits": [limits], "publish": [str(res / "hepdata.tar.gz")]}
    text = landing_page(cfg, expected)
    assert "INCOMPLETE RUN" in text and "publish" in text.split("did not complete")[0]
    assert "hepdata.tar.gz" in text                   # the missing file, relative to results/<tag>/
    assert "0.0101 GeV" in text and "1e-05" in text   # a limit at the 0.01 GeV benchmark
    assert "hepdata.tar.gz_" not in text              # no link to a file that does not exist


def test_complete_run_says_complete_and_links_the_public_files(cfg):
    res = paths.results_dir(cfg)
    files = [_write(res / "hepdata.tar.gz", "x"), _write(res / "likelihoods.tar.gz", "x")]
    _write(res / "background" / "na64e" / "2016-2022.json",
           json.dumps({"analysis": "na64e", "run": "2016-2022", "n_ot": 1e8, "blinded": True,   # contracts.md
                           "total": {"estimate": 0.83, "uncertainty": 0.2}, "sources": []}))
    text = landing_page(cfg, {"publish": files})
    assert "Complete run" in text and "INCOMPLETE" not in text
    assert "hepdata.tar.gz_" in text and "likelihoods.tar.gz_" in text
    assert "0.83 ± 0.2" in text and "blinded" in text


def test_an_empty_output_folder_is_not_complete(cfg, tmp_path):
    (tmp_path / "figures").mkdir()
    [(step, n, k, missing)] = step_status({"plot": [str(tmp_path / "figures")]})
    assert (n, k) == (1, 0) and missing
