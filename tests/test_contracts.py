"""The file contracts (na64flow.contracts): one reader and one writer per file kind, byte-stable
round trips, errors naming the file and key, and docs/contracts.md checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from na64flow import NA64Error, contracts

DOC = Path(__file__).resolve().parents[1] / "docs" / "contracts.md"


def _sections() -> dict[str, str]:
    text = DOC.read_text()
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {p.splitlines()[0]: p for p in parts}


@pytest.mark.parametrize("kind", contracts.FILES, ids=lambda k: k.name)
def test_every_file_kind_has_a_documented_section_naming_its_fields_and_columns(kind):
    section = next((body for head, body in _sections().items() if f"`{kind.path}`" in head), None)
    assert section is not None, f"docs/contracts.md: no section '## `{kind.path}` ...'"
    for name in contracts.record_fields(kind):
        assert f"`{name}`" in section or f'"{name}"' in section, f"{kind.path}: field {name} undocumented"
    if kind.columns:
        assert f"`{','.join(kind.columns)}`" in section, f"{kind.path}: columns {kind.columns} not documented"


def test_every_documented_results_file_is_a_contract_kind():
    documented = {m.group(1) for head in _sections() for m in [re.search(r"`([^`]+)`", head)]
                  if m and "/" in m.group(1)}
    assert documented == {k.path for k in contracts.FILES}


def test_signal_table_round_trip_is_byte_stable(tmp_path):
    p = tmp_path / "s.csv"
    contracts.write_signal(p, contracts.SignalTable(np.array([0.1, 0.0123456789]), np.array([1e-9, 2.5e-10]),
                                                    np.array([0.5, 0.25])))
    t = contracts.read_signal(p)
    assert t.mass_gev.tolist() == [0.0123457, 0.1]      # sorted by mass, 6 significant digits
    q = tmp_path / "q.csv"
    contracts.write_signal(q, t)
    contracts.write_signal(p, contracts.read_signal(q))
    assert p.read_bytes() == q.read_bytes()


def test_limit_table_keeps_empty_obs_as_none_and_text_cells(tmp_path):
    p = tmp_path / "l.csv"
    table = contracts.LimitTable(["meson", "mass_gev", *contracts.LIMIT_COLUMNS],
                                 [["eta", 0.547862, 1e-4, 5e-5, 7e-5, 2e-4, 3e-4, float("nan")]])
    contracts.write_limits(p, table)
    assert p.read_text().splitlines()[1] == "eta,0.547862,0.0001,5e-05,7e-05,0.0002,0.0003,"
    back = contracts.read_limits(p)
    assert back.records()[0]["meson"] == "eta" and back.records()[0]["obs"] is None and not back.observed
    q = tmp_path / "q.csv"
    contracts.write_limits(q, back)
    assert p.read_bytes() == q.read_bytes()


def test_limit_table_without_band_columns_is_refused_naming_the_file(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("mass_gev,exp\n0.1,1e-4\n")
    with pytest.raises(NA64Error, match=r"bad.csv.*exp_m2"):
        contracts.read_limits(p)


def test_background_record_keeps_unknown_keys_and_names_missing_ones(tmp_path):
    rec = {"analysis": "na64e", "run": "2023", "n_ot": 1e9, "blinded": True, "sources": [],
           "total": {"estimate": 0.5, "stat": 0.3, "syst": 0.4}, "note": "kept"}
    p = tmp_path / "b.json"
    contracts.write_background(p, rec)
    back = contracts.read_background(p)
    assert back.uncertainty == pytest.approx(0.5) and back.extra == {"note": "kept"}
    p.write_text('{"analysis": "na64e", "run": "2023", "n_ot": 1, "total": {}}')
    with pytest.raises(NA64Error, match=r"b.json: key 'estimate'"):
        contracts.read_background(p)


def test_missing_files_name_the_step_that_makes_them(tmp_path):
    for reader, step in ((contracts.read_signal, "signal"), (contracts.read_background, "background"),
                         (contracts.read_normalisation, "normalisation"), (contracts.read_limits, "limits"),
                         (contracts.read_cutflow, "cutflow"), (contracts.read_manifest, "simulate")):
        with pytest.raises(NA64Error, match=rf"absent.*na64flow {step}"):
            reader(tmp_path / "absent")


def test_cutflow_in_another_layout_is_refused_naming_the_columns(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text("cut,data\nread,10\n")
    with pytest.raises(NA64Error, match=r"wide.csv: missing column\(s\) sample, step"):
        contracts.read_cutflow(p)


def test_every_json_record_reads_and_writes_through_the_one_shared_base(tmp_path):
    """The three JSON records share from_dict/to_dict/read/write (contracts.records.JsonRecord): same error
    shape naming file, key and contract; optional keys defaulted; unknown keys kept; byte-stable rewrite."""
    from na64flow.contracts.records import JsonRecord

    for cls in (contracts.BackgroundEstimate, contracts.Normalisation, contracts.ObservedCount):
        assert issubclass(cls, JsonRecord) and "from_dict" not in vars(cls) and "to_dict" not in vars(cls)
    p = tmp_path / "count.json"
    p.write_text('{"analysis": "na64h", "run": "2022", "observed": "three"}')
    with pytest.raises(NA64Error, match=r"count.json: key .*invalid \(contract: analysis, run, observed\)"):
        contracts.read_observed(p)
    n = tmp_path / "k.json"
    # a normalisation without its uncertainty is refused (it would silently become a 0 nuisance in the limits)
    n.write_text('{"analysis": "na64e", "run": "2023", "k": 0.97, "note": 1}')
    with pytest.raises(NA64Error, match=r"k.json: .*k_unc.*\(contract: analysis, run, k, k_unc"):
        contracts.read_normalisation(n)
    n.write_text('{"analysis": "na64e", "run": "2023", "k": 0.97, "k_unc": 0.0, "note": 1}')
    rec = contracts.read_normalisation(n)
    assert (rec.k_unc, rec.method, rec.components, rec.extra) == (0.0, "", None, {"note": 1})
    contracts.write_normalisation(n, rec)
    once = n.read_bytes()
    contracts.write_normalisation(n, contracts.read_normalisation(n))
    assert n.read_bytes() == once and b"components" not in once
