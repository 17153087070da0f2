"""Configuration: every shipped config validates; bad input names the key and the allowed values."""

from __future__ import annotations

import pytest

from na64flow import NA64Error
from na64flow.config import cuts_for, load_config, parse_overrides, run_config, validate


def test_every_shipped_config_validates(repo_root):
    configs = sorted((repo_root / "configs").glob("*.yaml"))
    assert any(p.name == "default.yaml" for p in configs)
    for path in configs:
        cfg = load_config(path)
        assert cfg["analyses"], path


def test_defaults_are_filled(tmp_config):
    path, _ = tmp_config()
    cfg = load_config(path)
    assert cfg["unblind"] is False
    assert cfg["execution"]["executor"] in {"iterative", "futures", "dask"}


def test_bad_enum_names_key_and_allowed_values(tmp_config):
    _, cfg = tmp_config()
    cfg["execution"] = {"executor": "magic"}
    with pytest.raises(NA64Error) as err:
        validate(cfg, "my.yaml")
    msg = str(err.value)
    assert "my.yaml" in msg and "execution.executor" in msg
    assert "iterative" in msg and "dask" in msg


def test_unknown_analysis_key_lists_allowed(tmp_config):
    _, cfg = tmp_config()
    cfg["analyses"]["na64x"] = cfg["analyses"]["na64e"]
    with pytest.raises(NA64Error, match="na64e_plus"):
        validate(cfg)


def test_exponent_without_sign_is_reported_as_wrong_type(tmp_path, repo_root):
    text = (repo_root / "configs" / "default.yaml").read_text().replace("n_ot: 2.0e+9", "n_ot: 2.0e9", 1)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(NA64Error, match=r"n_ot.*not of type 'number'"):
        load_config(path)


def test_unknown_run_and_analysis_are_clear(tmp_config):
    path, _ = tmp_config()
    cfg = load_config(path)
    with pytest.raises(NA64Error, match="unknown run '1999'.*configured: 2016-2022, 2023"):
        run_config(cfg, "na64e", "1999")
    with pytest.raises(NA64Error, match="unknown analysis 'na64z'"):
        run_config(cfg, "na64z", "2022")


def test_run_cuts_override_analysis_cuts(tmp_config):
    path, _ = tmp_config()
    cfg = load_config(path)
    assert cuts_for(cfg, "na64e", "2016-2022").ecal_max_gev == 50.0
    c23 = cuts_for(cfg, "na64e", "2023")
    assert c23.ecal_max_gev == 60.0 and c23.vhcal is True and c23.beam_energy_gev == 100.0


def test_overrides_parse_yaml_values_but_keep_the_unblind_text_as_typed():
    assert parse_overrides(["unblind=true", "stats.n_toys=500", "tag=x"]) == {
        "unblind": "true", "stats.n_toys": 500, "tag": "x"}
    assert parse_overrides(["unblind=yes"]) == {"unblind": "yes"}     # not the YAML 1.1 boolean
    with pytest.raises(NA64Error):
        parse_overrides(["novalue"])


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(NA64Error, match="nope.yaml: configuration file not found"):
        load_config(tmp_path / "nope.yaml")
