"""The README's published reproduction (issue 9), as a new user runs it: a fresh clone, a new virtual
environment, `snakemake --cores all --configfile configs/published.yaml` exactly as the README's "Everyday
use" writes it (no events needed), then every contract output checked and `snakemake -n` with nothing to do.

Its own fresh clone, not the default run's (tests/test_release_path.py): the two reproductions then run on
the two test workers side by side instead of one after the other.
"""

from __future__ import annotations

import pytest
from test_release_path import _cfg, _fresh_clone, _nothing_to_do, _run, _venv_env, check_contract_outputs

pytestmark = pytest.mark.slow

PUBLISHED_COMMAND = "python3 -m snakemake --cores all --configfile configs/published.yaml"


@pytest.fixture(scope="module")
def fresh_published(repo_root, tmp_path_factory):
    dest = tmp_path_factory.mktemp("fresh_published")
    clone = _fresh_clone(repo_root, dest)
    env = _venv_env(dest)
    readme = (clone / "README.md").read_text()
    assert PUBLISHED_COMMAND.replace("python3 -m ", "") in readme, \
        "the README's published command changed: update this test"
    # the clone's own package first (the install of the README's quick start): the Snakefile refuses to
    # run another checkout's na64flow, e.g. one the environment's site-packages point to
    install = _run("python3 -m pip install -q -c requirements.lock -e .", clone, env)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-6000:]
    out = _run(PUBLISHED_COMMAND, clone, env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    return clone, env


def test_published_reproduction_in_a_fresh_clone_writes_every_contract_output(fresh_published):
    clone, _ = fresh_published
    cfg = _cfg(clone, "published")
    check_contract_outputs(clone / "results" / cfg["tag"], cfg, with_events=False)


def test_after_the_published_reproduction_snakemake_has_nothing_to_do(fresh_published):
    clone, env = fresh_published
    _nothing_to_do(clone, env, "--configfile", "configs/published.yaml")
