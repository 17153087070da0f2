# Helpers shared by the rules: config validation, the unblinding request, the effective configuration
# file handed to every `na64flow` call, and the lists of analyses, runs and models that make up the DAG
# -- all taken from na64flow.registry (analyses, runs, models) and na64flow.paths (the results layout).
# No physics here.

import hashlib
import json
import os
import re
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

import na64flow
import na64flow_analyses
from na64flow import NA64Error, blinding, paths, registry
from na64flow.config import read_yaml_config, refuse_unblind_in_file
from na64flow.config import validate as na64_validate


def _own_code_only():
    """The package and the analyses this Snakefile imported must be its own checkout's (src/na64flow,
    analyses/): another clone's editable install or a PYTHONPATH entry would silently run other code."""
    here = Path(workflow.basedir).resolve()
    for module, own in ((na64flow, here / "src" / "na64flow"), (na64flow_analyses, here / "analyses")):
        found = Path(module.__file__).resolve().parent
        if own.is_dir() and found != own:
            raise WorkflowError(f"this workflow ({here}) imports {module.__name__} from {found}, not from its own "
                                f"{own}: install this checkout (python3 -m pip install -c requirements.lock -e .) "
                                "or run the Snakefile of the checkout that is installed")


_own_code_only()


def _na64flow_python():
    """The interpreter every job runs the package with (``"$NA64FLOW_PYTHON" -m na64flow``, the variable
    set by the shell prefix below): Snakemake's own, whose na64flow is the one checked above, not the
    first `na64flow` on PATH; with --use-conda (or a container) the environment's python (environment.yml
    installs this checkout into it). A shell variable and not a parameter of the jobs, because running Snakemake
    through another path of the same environment (python or python3, the snakemake script) must not
    re-run every job, as a changed parameter would."""
    from snakemake.settings.types import DeploymentMethod

    if workflow.deployment_settings.deployment_method & {DeploymentMethod.CONDA, DeploymentMethod.APPTAINER}:
        return "python"
    return sys.executable


# the start of every job's shell, after Snakemake's own default (bash strict mode); cluster jobs parse
# this Snakefile again and set it there
shell.prefix(f"set -euo pipefail; NA64FLOW_PYTHON={shlex.quote(_na64flow_python())}; ")


def _unblind_requested(value):
    """`--config unblind=true` (the text "true") requests unblinding; absent/false do not; anything else
    (yes, 1, True, an `unblind` key in a configuration file) is refused before any rule is scheduled."""
    if value is None or value is False or value == "false":
        return False
    if value == "true":
        return True
    raise WorkflowError(f"unblind={value!r} refused: unblinding is requested only on the command line with "
                        "the literal `--config unblind=true` (not yes/1/True, not in a configuration file)")


# the request is taken out of the configuration: no rule (and not the effective config.yaml) sees it
UNBLIND = _unblind_requested(config.pop("unblind", None))


def _typed(value):
    """A value of a nested --config override as YAML reads it (Snakemake hands those over as text)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str) and value.strip():
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def _retype_nested_overrides():
    """`--config 'stats={n_toys: 500}'`: Snakemake parses nested values with YAML's BaseLoader, so 500
    arrived as the text '500' (and the validation refused it). Merge them again, typed as in a file."""
    from snakemake.utils import update_config

    cli = workflow.config_settings.config
    update_config(config, {k: _typed(v) for k, v in cli.items() if k != "unblind" and isinstance(v, (dict, list))})


_retype_nested_overrides()

# one validation, in place, against the package's schema (workflow/schemas/config.schema.yaml links it): the
# package's messages (one per mistake, naming the key and the allowed keys/values) and the schema defaults
# filled, as snakemake.utils.validate would
# the configuration files as given (Snakemake has merged them already): each read again by the package's
# reader, which refuses a key written twice (YAML keeps the last one silently) and names the file
_CONFIG_FILES = [str(f) for f in (workflow.overwrite_configfiles or ["configs/default.yaml"])]
try:
    for _f in _CONFIG_FILES:
        refuse_unblind_in_file(_f, read_yaml_config(_f))    # `unblind: "true"` (quoted) too
    na64_validate(config, f"configuration {', '.join(_CONFIG_FILES)} (with any --config overrides)")
except NA64Error as _exc:
    raise WorkflowError(str(_exc)) from None
config.pop("unblind", None)   # the schema's default false: not a key the rules' config.yaml carries

SOURCE = config["input"]["source"]
ANALYSES = registry.analyses(config)
RUNS = {a: registry.runs(config, a) for a in ANALYSES}
PAIRS = registry.pairs(config)
ENV = "../../environment.yml"
ELECTRON_LIKE = [a for a in ANALYSES if config["analyses"][a]["setup"] == "electron"]
# public likelihoods: one per analysis, and their combination when there are several (publish.py)
LIKELIHOOD_TARGETS = registry.likelihood_analyses(config)
_ROOT_IS_ABSOLUTE = Path(config.get("results_root", "results")).is_absolute()


def R(path):
    """A path of na64flow.paths as the rules name it: relative to the working directory (as the
    configured results_root is) unless results_root is absolute."""
    return str(path) if _ROOT_IS_ABSOLUTE else os.path.relpath(path)


def P(name, *args):
    """R(na64flow.paths.<name>(config, *args)); wildcards are passed as "{analysis}" etc."""
    return R(getattr(paths, name)(config, *args))


def PO(name, *args):
    """P() in the observed view of the results (results/<tag>/unblinded/, written by `unblind`)."""
    return R(getattr(paths, name)(paths.observed_view(dict(config)), *args))


RESULTS = R(paths.results_dir(config))

# The validated configuration (with --config overrides, without `unblind`) that every `na64flow` call
# reads. Written by the onstart handler, i.e. only when jobs are about to run: a dry run (-n), --report,
# or a refused unblinding write nothing under results/.
CONFIG = P("effective_config_path")


def write_effective_config():
    text = yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=True)
    path = Path(CONFIG)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def check_unblinding_targets():
    """An unblinding run builds only the observed products: no target or forced rule of the blinded chain
    (`freeze`, `-R limits_...`, `-F`). Snakemake knows the targets only once the DAG is built, so this runs
    first in the onstart handler: before any job and before anything is written (a dry run writes nothing)."""
    if not UNBLIND:
        return
    ds = workflow.dag_settings
    observed_rules = ("all", "unblind", "publish_observed", "plot_observed")
    unblinded_root = os.path.normpath(R(paths.results_dir(config) / "unblinded"))
    bad = [str(t) for t in (ds.targets or ()) if not (str(t) in observed_rules or str(t).startswith("plot_observed_")
                                                     or os.path.normpath(str(t)).startswith(unblinded_root))]
    forced = sorted(str(r) for r in (ds.forcerun or ()))
    if bad or forced or ds.forceall or ds.until:
        raise WorkflowError("unblinding refused, nothing run or written: with --config unblind=true only the "
                            "observed products are built (targets all, unblind, publish_observed, plot_observed "
                            f"or files under {unblinded_root}/); asked for "
                            f"{', '.join(bad + [f'-R {r}' for r in forced]) or '-F/--until'}. Run the blinded "
                            "chain (and freeze) without the request")


onstart:
    check_unblinding_targets()
    write_effective_config()


if UNBLIND:
    # the guard runs before the DAG exists: without a matching freeze nothing is scheduled or written
    from na64flow.unblind import check_allowed

    try:
        check_allowed({**json.loads(json.dumps(config)), "unblind": True, "_path": CONFIG})
    except NA64Error as exc:
        raise WorkflowError(f"unblinding refused, nothing scheduled or written: {exc}") from None


def section_hash(*keys):
    """Hash of configuration sections: a rule's params, so a changed setting re-runs the rule."""
    blob = json.dumps({k: config.get(k) for k in keys}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# the code a step runs (blinding.code_digest), a param of every rule but freeze/unblind, so changed code re-runs
# the steps (the freeze pins the code itself and refuses instead): CODE for the steps whose results reach a
# limit (the pinned sources and libraries), CODE_ALL for plots, public files and the closure study (every
# source and the figure/HEPData libraries too): an edit of plotting/ re-runs only the plots
CODE = blinding.code_digest("compute")
CODE_ALL = blinding.code_digest("all")

# what the public files and plots read of the configuration: labels, CL, inspire_id, the g-2 band, formats
PUBLISH_SETTINGS = section_hash("publish", "stats", "analyses")


def analysis_hash(wildcards):
    return f"{section_hash('analyses', 'input', 'seed')}-{section_hash('simulation')}"


def tracklength_table(analysis, run):
    """The cascade track-length table of one e-/e+ run (its simulated signal and its yields share it)."""
    beam = config["analyses"][analysis]["beam"]
    energy = config["analyses"][analysis]["runs"][run]["beam_energy_gev"]
    return P("tracklength_path", beam, float(energy))


def simulation_inputs(wildcards):
    if wildcards.analysis in ELECTRON_LIKE:
        return [tracklength_table(wildcards.analysis, wildcards.run)]
    return []


def tracklength_tables():
    """The cascade track-length tables the signal yields need: one per (beam, energy) of e-/e+ runs."""
    return sorted({tracklength_table(a, r) for a in ELECTRON_LIKE for r in RUNS[a]})


def histograms(analysis=None):
    pairs = PAIRS if analysis is None else [(analysis, r) for r in RUNS[analysis]]
    return [P("histograms_path", a, r) for a, r in pairs]


def event_inputs(wildcards):
    """Inputs of `process`: the simulation manifest, plus every ntuple it lists that was replaced or
    deleted after it was written (modified or status-changed after the manifest, so that a `cp -p` copy
    counts too: `paths.changed_after`; or missing): a replaced ntuple re-runs
    `process`, a deleted one stops the DAG naming it. Only those: listing every ntuple would change the
    job's input set between the first run (no manifest yet) and the next, which Snakemake takes as a
    reason to re-run. Real ntuples: the configured files."""
    if SOURCE == "simulation":
        manifest = paths.manifest_path(config, wildcards.analysis, wildcards.run)
        out = [R(manifest)]
        if manifest.is_file():
            from na64flow.contracts import read_manifest

            try:
                listed = read_manifest(manifest).files(manifest.parent)
            except NA64Error:   # unreadable: `process` itself reports it, naming the file
                return out
            written = manifest.stat().st_mtime_ns
            out += [R(f) for fs in listed.values() for f in fs
                    if not os.path.exists(f) or paths.changed_after(f, written)]
        return out
    # exactly the files `process` reads (lists, globs, text file lists), or its error naming the key
    from na64flow.processing.inputs import fileset_of   # (imports coffea: only for real ntuples)

    try:
        files, _ = fileset_of(config, wildcards.analysis, wildcards.run)
    except NA64Error as exc:
        raise WorkflowError(str(exc)) from None
    return [f for fs in files.values() for f in fs]


def ntuple_state(wildcards):
    """`process` param for real ntuples: size and the first and last 4 KiB of every configured file (a ROOT
    file's header and its key list, which differ for other content), so that a file replaced by a copy that
    keeps an older modification time (`cp -p`, `rsync -a`, `tar x`), which Snakemake's time stamps miss,
    re-runs `process`, while a chmod, chown or rename does not. Simulation: "" (event_inputs covers it)."""
    if SOURCE == "simulation":
        return ""
    state = []
    for f in event_inputs(wildcards):
        try:
            with open(f, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                head = fh.read(4096)
                fh.seek(max(size - 4096, 0))
                tail = fh.read(4096)
            state.append([f, size, hashlib.sha256(head + tail).hexdigest()])
        except OSError:
            state.append([f, "missing"])
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]


def signal_tables(analysis, run):
    return [P("signal_path", analysis, m, run) for m in registry.signal_tables(config, analysis)]


def limit_inputs(analysis):
    """Signal, background and normalisation files of every run of the analysis (all runs for combined)."""
    out = []
    for a in ANALYSES if analysis == registry.COMBINED else [analysis]:
        for r in RUNS[a]:
            out += signal_tables(a, r)
            out.append(P("background_path", a, r))
            out.append(P("normalisation_path", a, r))
    return out


def limit_jobs():
    """One `limits` job per (analysis, base model): it writes the model's table, its LDM tables and
    (analyses only) the per-run tables: {(analysis, base): ([tables], [per-run tables])}."""
    jobs = {}
    for a, m in registry.limit_targets(config):
        base = registry.parse_model(m)[0].name
        tables, per_run = jobs.setdefault((a, base), ([], []))
        tables.append(P("limits_path", a, m))
        if a != registry.COMBINED:
            per_run += [P("run_limits_path", a, m, r) for r in RUNS[a]]
    return jobs


def limit_cross_checks(analysis, base):
    """The asymptotic cross-check table and its comparison, written by the same `limits` job (toys only)."""
    st = config.get("stats", {})
    if st.get("asymptotic", True) and st.get("calculator", "toys") == "toys":
        return [P("asymptotic_limits_path", analysis, base), P("limits_comparison_path", analysis, base)]
    return []


def limit_files():
    return [P("limits_path", a, m) for a, m in registry.limit_targets(config)]


def run_limit_files():
    return [P("run_limits_path", a, m, r) for a, m, r in registry.run_limit_targets(config)]


def unblinded_outputs():
    """The declared outputs of `unblind` (results/<tag>/unblinded/, docs/contracts.md)."""
    out = [P("unblinded_path", a, r) for a, r in PAIRS]
    out += [PO("limits_path", a, m) for a, m in registry.limit_targets(config)]
    out += [PO("run_limits_path", a, m, r) for a, m, r in registry.run_limit_targets(config)]
    out += [PO("likelihood_path", a, f) for a in LIKELIHOOD_TARGETS for f in ("BkgOnly.json", "patchset.json")]
    out += [PO("background_path", a, r) for a, r in PAIRS]
    out += [PO("background_table_path", a, r, ext) for a, r in PAIRS for ext in ("md", "tex")]
    if SOURCE != "published":
        out += [PO("histograms_path", a, r) for a, r in PAIRS]
        out += [PO("cutflow_path", a, r, ext) for a in ANALYSES for r in RUNS[a] + ["summary"]
                for ext in ("csv", "md", "tex")]
    return out


def all_targets():
    if UNBLIND:
        # unblinding builds only its own products: never freeze or any rule of the blinded chain
        return [P("unblind_audit_path"), PO("hepdata_submission_path"), PO("figures_dir")]
    targets = limit_files() + run_limit_files() + [P("likelihood_path", a, "patchset.json") for a in ANALYSES]
    targets += [P("hepdata_submission_path"), P("figures_dir")]
    if SOURCE != "published":
        targets += [P("cutflow_path", a, "summary", "md") for a in ANALYSES]
        targets += [P("closure_path", a, "md") for a in ANALYSES]
    return targets


def plot_inputs(category):
    """What the plots of one category read: its limit tables (every table for combined, whose overlay
    draws each beam), and for an analysis its backgrounds, cut flows and histograms."""
    if category == registry.COMBINED:
        return limit_files()
    out = [P("limits_path", a, m) for a, m in registry.limit_targets(config) if a == category]
    out += [P("background_path", category, r) for r in RUNS[category]]
    if SOURCE != "published":
        out += [P("cutflow_path", category, "summary", "md")] + histograms(category)
    return out


def publish_inputs(wildcards=None):
    out = limit_files()
    if SOURCE != "published":
        out += [P("cutflow_path", a, "summary", "md") for a in ANALYSES]
    out += [P("background_path", a, r) for a, r in PAIRS]
    return out

wildcard_constraints:
    analysis="|".join(re.escape(a) for a in ANALYSES + ["combined"]),
    run="|".join(re.escape(r) for r in sorted({r for a in ANALYSES for r in RUNS[a]})),
    beam="e-|e\\+|mu-|mu\\+|pi-",
