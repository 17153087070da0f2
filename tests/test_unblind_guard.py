"""The blinding protocol: the freeze pins everything the observed result depends on, the unblinding guard
(literal request + recomputed state) refuses naming what changed, and unblinding writes only its own outputs."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_stats_inputs import REPO, make_config, write_inputs

from na64flow import NA64Error, cli, contracts, paths, processing
from na64flow import blinding as blinding_mod
from na64flow.blinding import freeze
from na64flow.config import load_config, parse_overrides
from na64flow.stats import compute_limits
from na64flow.unblind import counts_path, observed_limits_path, unblind

_spec = importlib.util.spec_from_file_location("toy_events", Path(__file__).parent / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)

SETTINGS = {"stats.n_toys": 2000, "stats.asymptotic": False}
TABLES = [("na64mu", "lmu_ltau"), ("na64h", "eta_invisible"), ("combined", "lmu_ltau")]


def _ucfg(tmp_path: Path, **extra) -> dict:
    return make_config(tmp_path, unblind=True, **SETTINGS, **extra)


def _blinded_analysis(tmp_path: Path) -> dict:
    """Toy ntuples for every run, hand-made signal/background/normalisation inputs, blinded limit tables
    for TABLES and a freeze; returns the config."""
    cfg = make_config(tmp_path, **SETTINGS)
    for i, (a, acfg) in enumerate(cfg["analyses"].items()):
        for j, r in enumerate(acfg["runs"]):
            toy.write_run(cfg, a, r, 300, seed=100 + 10 * i + j)
    write_inputs(cfg, n_masses=4)
    for a, m in TABLES:
        _, _, header, rows = compute_limits(cfg, a, m)
        contracts.write_limits(paths.limits_path(cfg, a, m), contracts.LimitTable(header, rows))
    freeze(cfg)
    return cfg


def _written_by_unblind(cfg: dict) -> list[Path]:
    root = paths.results_dir(cfg)
    return sorted(p for d in ("unblinded", "audit") for p in (root / d).rglob("*") if p.is_file())


def _fake_box(counts: dict):
    def box_events(cfg, analysis, run):
        n = counts.get((analysis, run), 0)
        return {"ecal_gev": np.full(n, 10.0), "hcal_gev": np.zeros(n)}
    return box_events


def _fake_unblinded_data(counts: dict):
    """The blinded data sample with the box row set to the fake count (the real one re-processes ntuples)."""
    from na64flow import histograms as H

    def unblinded_data(cfg, analysis, run):
        data = H.load(paths.histograms_path(cfg, analysis, run))["samples"]["data"]
        n = counts.get((analysis, run), 0)
        raw = data["cutflow"]["raw"][:-1] + [n]
        return {**data, "cutflow": {**data["cutflow"], "raw": raw, "weighted": data["cutflow"]["weighted"][:-1] + [float(n)],
                                    "sumw2": data["cutflow"]["sumw2"][:-1] + [float(n)]}}
    return unblinded_data


def _rows(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def no_box_access(monkeypatch):
    def forbidden(cfg, analysis, run, *a, **k):
        raise AssertionError(f"box of {analysis}/{run} read while blinded")
    monkeypatch.setattr(processing, "box_events", forbidden)
    monkeypatch.setattr(processing, "unblinded_data", forbidden)


def install_fake_box(monkeypatch, counts: dict) -> None:
    """Box reads replaced by fixed counts (no histogram files in these hand-made analyses)."""
    monkeypatch.setattr(processing, "box_events", _fake_box(counts))
    monkeypatch.setattr("na64flow.unblind.observed_histograms", lambda cfg, c: {})


@pytest.fixture
def fake_box(monkeypatch):
    return lambda counts: install_fake_box(monkeypatch, counts)


def test_freeze_pins_inputs_tables_every_config_section_and_sources_without_reading_the_box(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    record = json.loads(paths.freeze_path(cfg).read_text())
    assert set(record["expected_limits"]) == {f"{a}/{m}.csv" for a, m in TABLES}
    assert all(r["obs"] == "" for a, m in TABLES for r in _rows(paths.limits_path(cfg, a, m)))
    st = record["state"]
    assert {"config", "ntuples", "histograms", "signal_tables", "background_tables", "normalisation_tables",
            "sources", "package_version", "libraries", "expected_limits"} == set(st)
    assert {"analyses", "input", "simulation", "signal", "background", "normalisation", "stats", "seed"} <= set(st["config"])
    assert "execution" not in st["config"] and "unblind" not in st["config"]
    assert "na64h/2022 data/chunk_0000.root" in st["ntuples"] and "na64h/2022 mc/bulk/chunk_0000.root" in st["ntuples"]
    assert "na64mu/lmu_ltau_2022.csv" in st["signal_tables"]
    for src in ("src/na64flow/processing/processor.py", "src/na64flow/processing/__init__.py", "src/na64flow/events.py", "src/na64flow/config.py",
                "src/na64flow/signal.py", "src/na64flow/histograms.py", "src/na64flow/blinding.py",
                "src/na64flow/unblind.py", "src/na64flow/stats/toys.py", "src/na64flow/contracts/tables.py",
                "src/na64flow/registry.py", "src/na64flow/physics/yields.py",
                "analyses/na64e/selection.py"):
        assert src in st["sources"], src
    assert "pyhf" in st["libraries"]


def test_every_new_package_module_is_pinned_and_only_justified_modules_are_not(tmp_path, monkeypatch):
    pkg = tmp_path / "na64flow"
    shutil.copytree(Path(blinding_mod.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "brand_new_cut.py").write_text("CUT = 1.0\n")
    (pkg / "physics" / "new_xsec.py").write_text("X = 1.0\n")
    labels = blinding_mod.source_files(pkg=pkg)
    assert "src/na64flow/brand_new_cut.py" in labels and "src/na64flow/physics/new_xsec.py" in labels
    every = {f"src/na64flow/{p.relative_to(pkg).as_posix()}" for p in pkg.rglob("*.py")}
    assert every - set(labels) == {f"src/na64flow/{n}" for n in blinding_mod.NOT_PINNED_SOURCES}
    for name, why in blinding_mod.NOT_PINNED_SOURCES.items():     # the exclusions exist and say why
        assert (Path(blinding_mod.__file__).parent / name).is_file() and len(why) > 20


# pinned modules that may import an unpinned one: they call it only to write public files after the limits
OUTPUT_WRITER_IMPORTS = {("unblind.py", "na64flow.publish"), ("unblind.py", "na64flow.publish.likelihoods"),
                         ("report.py", "na64flow.publish")}


def _imported_modules(path: Path, module: str, is_package: bool) -> set[str]:
    """Every module an import statement of ``path`` names (module level and inside functions)."""
    import ast

    base = module.split(".") if is_package else module.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            out |= {mod} | {f"{mod}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_no_pinned_module_imports_an_unpinned_one():
    """The freeze trusts NOT_PINNED_SOURCES to reach no limit: a pinned step importing one would let its code
    change a limit unnoticed (the toy closure that decides the background's central method used to live in
    the unpinned closure study)."""
    pkg = Path(blinding_mod.__file__).parent
    modules = {}
    for p in pkg.rglob("*.py"):
        rel = p.relative_to(pkg).as_posix()
        parts = ["na64flow", *rel[:-3].split("/")]
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = (rel, p)
    unpinned = {m for m, (rel, _) in modules.items() if rel in blinding_mod.NOT_PINNED_SOURCES}
    assert "na64flow.closure.rows" in unpinned and "na64flow.background.toys" not in unpinned
    bad = sorted((rel, m) for mod, (rel, p) in modules.items() if rel not in blinding_mod.NOT_PINNED_SOURCES
                 for m in _imported_modules(p, mod, rel.endswith("__init__.py"))
                 if m in unpinned and (rel, m) not in OUTPUT_WRITER_IMPORTS)
    assert bad == []


def test_unblind_refuses_without_the_literal_request_and_writes_nothing(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    with pytest.raises(NA64Error, match="unblinding not requested"):
        unblind(cfg)
    for typed in ("yes", "True", "1", "on"):
        with pytest.raises(NA64Error, match="only the literal `true`"):
            load_config(REPO / "configs" / "default.yaml", {"results_root": str(tmp_path),
                                                           **parse_overrides([f"unblind={typed}"])})
    assert cli.main(["unblind", "-c", cfg["_path"], "--set", f"results_root={tmp_path}", "--set", "unblind=yes"]) == 1
    yes_file = tmp_path / "yes.yaml"
    yes_file.write_text((REPO / "configs" / "default.yaml").read_text().replace("unblind: false", "unblind: yes", 1))
    with pytest.raises(NA64Error, match="unblind='yes' in a configuration file refused"):
        load_config(yes_file)
    yes_file.write_text((REPO / "configs" / "default.yaml").read_text() + "\nunblind: yes\n")   # written twice
    with pytest.raises(NA64Error, match="'unblind' written twice"):
        load_config(yes_file)
    assert _written_by_unblind(cfg) == []


def test_unblind_refuses_without_a_freeze(tmp_path, no_box_access):
    cfg = _ucfg(tmp_path)
    write_inputs(cfg, n_masses=3)
    with pytest.raises(NA64Error, match="no freeze record"):
        unblind(cfg)
    assert _written_by_unblind(cfg) == []


def _refused(tmp_path, cfg, match):
    before = {p: p.read_bytes() for p in paths.results_dir(cfg).rglob("*") if p.is_file()}
    with pytest.raises(NA64Error, match=match) as err:
        unblind(_ucfg(tmp_path))
    assert _written_by_unblind(cfg) == []
    after = {p: p.read_bytes() for p in paths.results_dir(cfg).rglob("*") if p.is_file()}
    assert after == before
    return str(err.value)


def test_unblind_refuses_after_a_cut_changed_and_writes_nothing(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    before = {p: p.read_bytes() for p in paths.results_dir(cfg).rglob("*.csv")}
    changed = _ucfg(tmp_path, **{"analyses.na64e.cuts.ecal_max_gev": 55.0})
    with pytest.raises(NA64Error, match=r"refusing to unblind(.|\n)*configuration section analyses: changed"):
        unblind(changed)
    assert _written_by_unblind(changed) == []
    assert {p: p.read_bytes() for p in paths.results_dir(cfg).rglob("*.csv")} == before


def test_unblind_refuses_after_a_data_file_was_swapped_naming_the_file(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    d = paths.ntuple_dir(cfg, "na64h", "2022") / "data"
    shutil.copy(d / "chunk_0001.root", d / "chunk_0000.root")
    _refused(tmp_path, cfg, r"input ntuple na64h/2022 data/chunk_0000.root: changed since the freeze")


def test_unblind_refuses_after_a_simulation_setting_or_injection_changed(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    with pytest.raises(NA64Error, match="configuration section simulation: changed"):
        unblind(_ucfg(tmp_path, **{"simulation.n_mc": 12345}))
    with pytest.raises(NA64Error, match="configuration section signal: changed"):
        unblind(_ucfg(tmp_path, **{"signal.mass_grid.n_log": 7}))
    assert _written_by_unblind(cfg) == []


def test_unblind_refuses_after_a_signal_table_was_edited(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    p = paths.signal_path(cfg, "na64mu", "lmu_ltau", "2022")
    lines = p.read_text().splitlines()
    m, y, e = lines[1].split(",")
    p.write_text("\n".join([lines[0], f"{m},{float(y) * 10:.6g},{e}", *lines[2:]]) + "\n")
    _refused(tmp_path, cfg, r"signal table na64mu/lmu_ltau_2022.csv: changed since the freeze")


def test_unblind_refuses_after_a_background_estimate_changed(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    bpath = paths.background_path(cfg, "na64mu", "2022")
    data = json.loads(bpath.read_text())
    data["total"]["estimate"] = 0.3
    bpath.write_text(json.dumps(data))
    _refused(tmp_path, cfg, "background table na64mu/2022: changed since the freeze")


def test_unblind_refuses_after_the_processor_was_edited(tmp_path, monkeypatch, no_box_access):
    pkg = tmp_path / "src" / "na64flow"
    shutil.copytree(Path(blinding_mod.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(blinding_mod, "package_dir", lambda: pkg)
    cfg = _blinded_analysis(tmp_path)
    src = pkg / "processing" / "processor.py"
    src.write_text(src.read_text().replace("keep = ~(steps.valid & steps.box)", "keep = ~(steps.valid & steps.box & False)"))
    msg = _refused(tmp_path, cfg, r"source src/na64flow/processing/processor.py: changed since the freeze")
    assert "unblind.py" not in msg          # names only what changed


def test_unblind_writes_its_own_outputs_and_leaves_the_blinded_products_untouched(tmp_path, fake_box):
    cfg = _blinded_analysis(tmp_path)
    frozen = json.loads(paths.freeze_path(cfg).read_text())
    blinded = {p: p.read_bytes() for p in paths.results_dir(cfg).rglob("*") if p.is_file()}
    fake_box({})     # nothing in any box
    base = ["unblind", "-c", cfg["_path"], "--set", f"results_root={tmp_path}", "--set", "unblind=true",
            "--set", "stats.n_toys=2000", "--set", "stats.asymptotic=false"]
    assert cli.main(base) == 0
    ucfg = _ucfg(tmp_path)
    for a in ucfg["analyses"]:
        for r in ucfg["analyses"][a]["runs"]:
            rec = json.loads(counts_path(ucfg, a, r).read_text())
            assert rec["observed"] == 0 and rec["freeze_hash"] == frozen["hash"]
            bkg = json.loads((paths.results_dir(ucfg) / "unblinded" / "background" / a / f"{r}.json").read_text())
            assert bkg["observed"] == 0 and bkg["blinded"] is False
    audits = list((paths.results_dir(ucfg) / "audit").glob("unblind-*.json"))
    assert len(audits) == 1
    audit = json.loads(audits[0].read_text())
    assert audit["freeze_hash"] == frozen["hash"] and audit["who"] and audit["when_utc"]
    assert audit["counts"]["na64mu"]["2022"] == 0
    assert (paths.results_dir(ucfg) / "unblinded" / "audit.json").exists()
    # every blinded product is byte for byte what it was
    assert {p: p.read_bytes() for p in blinded} == blinded
    for a, m in TABLES:
        rows = _rows(observed_limits_path(ucfg, f"{a}/{m}.csv"))
        assert all(r["obs"] != "" for r in rows)
        assert [{k: v for k, v in r.items() if k != "obs"} for r in rows] == frozen["expected_limits"][f"{a}/{m}.csv"]
        assert all(float(r["obs"]) <= float(r["exp"]) * 1.05 for r in rows)    # 0 observed: strong end
        assert all(r["obs"] == "" for r in _rows(paths.limits_path(ucfg, a, m)))
    _, _, written = freeze(ucfg)      # freezing again after unblinding keeps the freeze (nothing changed)
    assert not written


def test_observed_limits_survive_a_rerun_of_limits(tmp_path, fake_box):
    cfg = _blinded_analysis(tmp_path)
    fake_box({("na64mu", "2022"): 2})
    unblind(_ucfg(tmp_path))
    obs_file = observed_limits_path(cfg, "na64mu/lmu_ltau.csv")
    observed = obs_file.read_bytes()
    assert cli.main(["limits", "-c", cfg["_path"], "--set", f"results_root={tmp_path}", "--set", "stats.n_toys=2000",
                     "--set", "stats.asymptotic=false", "--analysis", "na64mu", "--model", "lmu_ltau"]) == 0
    assert obs_file.read_bytes() == observed and all(r["obs"] != "" for r in _rows(obs_file))
    assert all(r["obs"] == "" for r in _rows(paths.limits_path(cfg, "na64mu", "lmu_ltau")))   # limits stays blinded


def test_signal_injection_observed_limit_weaker_than_expected_and_excess_visible(tmp_path, fake_box):
    """A planted excess (8 events where 0.5 are expected) shows up in the counts and weakens the limit."""
    cfg = _blinded_analysis(tmp_path)
    fake_box({("na64mu", "2022"): 8})
    audit = unblind(_ucfg(tmp_path))
    assert audit["counts"]["na64mu"]["2022"] == 8
    rows = _rows(observed_limits_path(cfg, "na64mu/lmu_ltau.csv"))
    for r in rows:
        assert float(r["obs"]) > float(r["exp_p2"])       # beyond the +2 sigma band
    # the same statistics with the count given explicitly reproduce it; the limits step never sees it
    problem, _, header, again = compute_limits(cfg, "na64mu", "lmu_ltau", observed={("na64mu", "2022"): 8})
    assert again[0][header.index("obs")] == pytest.approx(float(rows[0]["obs"]), rel=1e-4)
    blinded_problem, _, _, _ = compute_limits(_ucfg(tmp_path), "na64mu", "lmu_ltau")
    assert not blinded_problem.unblinded


def test_unblinded_histograms_and_cutflows_come_from_the_unblinded_data(tmp_path, monkeypatch):
    """With histogram files present, unblind writes the observed histogram file and cut-flow tables."""
    cfg = _blinded_analysis(tmp_path)
    for a in cfg["analyses"]:
        for r in cfg["analyses"][a]["runs"]:
            assert cli.main(["process", "-c", cfg["_path"], "--set", f"results_root={tmp_path}", "--analysis", a,
                             "--run", r, "--executor", "iterative", "--out", str(paths.histograms_path(cfg, a, r))]) == 0
    freeze(cfg)          # histograms are not pinned (the tables made from them are): the freeze still holds
    audit = unblind(_ucfg(tmp_path))
    u = paths.results_dir(cfg) / "unblinded"
    from na64flow import histograms as H
    for a in cfg["analyses"]:
        for r in cfg["analyses"][a]["runs"]:
            content = H.load(u / "histograms" / a / f"{r}.pkl")
            assert content["blinded"] is False
            assert content["samples"]["data"]["cutflow"]["raw"][-1] == audit["counts"][a][r]
            data = [row for row in _rows(u / "cutflows" / a / f"{r}.csv") if row["sample"] == "data"]
            assert data[-1]["step"] == "box" and data[-1]["raw"] == str(audit["counts"][a][r])
            blinded = [row for row in _rows(paths.cutflow_path(cfg, a, r, "csv")) if row["sample"] == "data"] \
                if paths.cutflow_path(cfg, a, r, "csv").exists() else None
            assert blinded is None or blinded[-1]["raw"] == "blinded"


def test_published_counts_give_observed_limits_directly(tmp_path, no_box_access):
    cfg = load_config(REPO / "configs" / "published.yaml", {"results_root": str(tmp_path), **SETTINGS})
    write_inputs(cfg, n_masses=4)
    for a in cfg["analyses"]:      # published mode: the background/normalisation steps write the public numbers
        for r in cfg["analyses"][a]["runs"]:
            for step in ("background", "normalisation"):
                assert cli.main([step, "-c", cfg["_path"], "--set", f"results_root={tmp_path}",
                                 "--analysis", a, "--run", r]) == 0
    problem, mu, header, rows = compute_limits(cfg, "na64e", "dark_photon")
    assert problem.unblinded and [c.background for c in problem.channels] == [0.51]
    obs, exp = (np.array([r[header.index(c)] for r in rows]) for c in ("obs", "exp"))
    assert np.all(np.isfinite(obs)) and np.all(obs <= exp * 1.05)     # 0 observed [paper]


def test_freeze_refused_without_limit_tables(tmp_path):
    cfg = make_config(tmp_path, **SETTINGS)
    write_inputs(cfg, n_masses=3)
    with pytest.raises(NA64Error, match="no limit tables to freeze"):
        freeze(cfg)
    assert not paths.freeze_path(cfg).exists()


def test_published_unblind_takes_the_public_counts_without_reading_events(tmp_path, no_box_access):
    over = {"results_root": str(tmp_path), **SETTINGS}
    cfg = load_config(REPO / "configs" / "published.yaml", over)
    write_inputs(cfg, n_masses=3)
    _, _, header, rows = compute_limits(cfg, "na64mu", "lmu_ltau")
    contracts.write_limits(paths.limits_path(cfg, "na64mu", "lmu_ltau"), contracts.LimitTable(header, rows))
    freeze(cfg)
    audit = unblind(load_config(REPO / "configs" / "published.yaml", {**over, "unblind": True}))
    assert audit["counts"]["na64mu"]["2022"] == cfg["analyses"]["na64mu"]["runs"]["2022"]["published"]["observed"]
    rec = json.loads(counts_path(cfg, "na64mu", "2022").read_text())
    assert rec["source"] == "published"
