"""The pinned environment (issue 9): requirements.lock pins the whole dependency tree (uv pip compile
from pyproject.toml), every install path uses it, and it agrees with pyproject.toml's ranges."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

COMPILE = ("uv pip compile pyproject.toml --extra test --extra cluster --python-version 3.11 "
           "--no-emit-package na64flow -o requirements.lock")

# distribution name -> the module a source file imports (where they differ)
MODULE_OF = {"pyyaml": "yaml", "hepdata-lib": "hepdata_lib", "hepdata-validator": "hepdata_validator",
             "distributed": "dask.distributed"}


def _lock(repo_root: Path) -> dict[str, str]:
    pins = {}
    for line in (repo_root / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[canonicalize_name(m[1])] = m[2]
    return pins


def _project(repo_root: Path) -> dict:
    return tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]


def test_lock_file_was_generated_by_the_documented_command(repo_root):
    head = (repo_root / "requirements.lock").read_text().splitlines()[:3]
    assert any(COMPILE in line for line in head), head


def test_every_dependency_and_extra_is_pinned_within_pyprojects_range(repo_root):
    pins = _lock(repo_root)
    project = _project(repo_root)
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in ("test", "cluster"):
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    for req in reqs:
        name = canonicalize_name(req.name)
        if name == "na64flow":
            continue
        assert name in pins, f"{req.name} is a dependency but not in requirements.lock: re-run `{COMPILE}`"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"{req.name}=={pins[name]} in the lock is outside pyproject's {req.specifier}"


def test_lock_pins_exact_versions_only(repo_root):
    for line in (repo_root / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            assert "==" in line, line


def test_every_install_path_uses_the_lock(repo_root):
    readme = (repo_root / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert quick.count("-c requirements.lock") == 2, quick
    assert "-c requirements.lock" in (repo_root / ".ci" / "run").read_text()
    env = (repo_root / "environment.yml").read_text()
    assert "-c requirements.lock" in env and "python=3.11" in env


def test_no_dependency_that_nothing_imports(repo_root):
    sources = "\n".join(p.read_text() for d in ("src", "analyses", "workflow", "scripts")
                        for p in (repo_root / d).rglob("*") if p.suffix in (".py", ".smk"))
    sources += (repo_root / "Snakefile").read_text()
    for r in _project(repo_root)["dependencies"]:
        name = canonicalize_name(Requirement(r).name)
        module = MODULE_OF.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {re.escape(module)}\b", sources, re.M), \
            f"{name} is a dependency but no source imports {module}"


def test_cluster_executor_plugins_are_an_extra_not_a_default_dependency(repo_root):
    project = _project(repo_root)
    default = " ".join(project["dependencies"])
    assert "executor-plugin" not in default
    cluster = " ".join(project["optional-dependencies"]["cluster"])
    assert "snakemake-executor-plugin-slurm" in cluster and "snakemake-executor-plugin-htcondor" in cluster
    assert '-e ".[cluster]"' in (repo_root / "README.md").read_text(), "the README's cluster line installs the extra"
