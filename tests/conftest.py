"""Shared fixtures: the repository root and a validated default configuration in a temporary results root."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# htcondor's Python bindings (the cluster extra) warn on import when no HTCondor is configured; every
# snakemake call of the tests would print it
os.environ.setdefault("CONDOR_CONFIG", "/dev/null")


def pytest_configure(config):
    config.addinivalue_line("markers", "optional(reason): a test that may skip (the reason says when)")


@pytest.hookimpl(trylast=True)
def pytest_cmdline_main(config):
    """`pytest -n 2` keeps each test module on one worker (xdist ``loadfile``, not ``load``).

    Several modules build an expensive module-scoped fixture (a fresh clone running the whole default
    reproduction, blinded chains run twice, coverage seeds); xdist's default ``load`` sends single tests to
    either worker and each worker then builds the fixture again: the suite ran the full reproduction twice.
    """
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"


# modules whose module fixture is the longest: scheduled first so that no long module starts last
LONGEST_FIRST = ("test_release_path.py", "test_release_published.py", "test_blinding_outputs.py", "test_workflow_blinding.py",
                 "test_coverage.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: file order kept otherwise


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skipped test fails unless it is marked ``optional`` with a reason: a test that silently skips
    for want of a tool (e.g. Chromium) tests nothing, and CI must not pass because of it."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        marker = item.get_closest_marker("optional")
        if marker is None or not (marker.kwargs.get("reason") or marker.args):
            report.outcome = "failed"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
            report.longrepr = (f"skipped without @pytest.mark.optional(reason=...): {reason}\n"
                               "install what the test needs (.ci/run does) or mark it optional with a reason")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture
def default_config_dict() -> dict:
    return yaml.safe_load((REPO / "configs" / "default.yaml").read_text())


@pytest.fixture
def tmp_config(tmp_path, default_config_dict):
    """Write a copy of the default config whose results go to tmp_path; returns (path, dict)."""

    def make(**changes):
        cfg = copy.deepcopy(default_config_dict)
        cfg["results_root"] = str(tmp_path / "results")
        for k, v in changes.items():
            cfg[k] = v
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path, cfg

    return make


@pytest.fixture
def cfg(tmp_config):
    """The default configuration, validated, with results in a temporary folder."""
    from na64flow.config import load_config

    path, _ = tmp_config()
    return load_config(path)


class BoxGuard(dict):
    """A region dict that fails the test if anyone reads the data 'box' entry."""

    def __getitem__(self, key):
        if key == "box":
            raise AssertionError("data box region read while blinded")
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key == "box":
            raise AssertionError("data box region read while blinded")
        return super().get(key, default)


def poison_data_box(hfile, value=1e9):
    """Fill the data box bins (E_ECAL < 50, E_HCAL < 1 GeV) and a data 'box' region with ``value``.

    A blinded step whose result changes with it has read the box."""
    import numpy as np

    h = hfile["samples"]["data"]["hists"]["ecal_hcal"]
    view = h.view(flow=False)
    e_box = h.axes[0].edges[1:] <= 50.0
    h_box = h.axes[1].edges[1:] <= 1.0
    view["value"][np.ix_(e_box, h_box)] = value
    view["variance"][np.ix_(e_box, h_box)] = value
    hfile["samples"]["data"]["regions"]["box"] = {"raw": int(value), "weighted": value, "sumw2": value}
