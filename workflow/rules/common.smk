# Helpers shared by the rules: config validation, the unblinding request, the effective configuration
# file handed to every `na64flow` call, and the lists of analyses, runs and models that make up the DAG.
# No physics here.

import copy
import hashlib
import json
import re
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from na64flow import NA64Error
from na64flow.config import validate as na64_validate


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

# the package's validator first: one message per mistake, naming the key and the allowed keys/values
try:
    na64_validate(copy.deepcopy(config), "configuration (--configfile/--config)")
except NA64Error as _exc:
    raise WorkflowError(str(_exc)) from None
validate(config, schema="../schemas/config.schema.yaml")

TAG = config["tag"]
RESULTS = f"{config.get('results_root', 'results')}/{TAG}"
SOURCE = config["input"]["source"]
ANALYSES = list(config["analyses"])
RUNS = {a: [str(r) for r in config["analyses"][a]["runs"]] for a in ANALYSES}
PAIRS = [(a, r) for a in ANALYSES for r in RUNS[a]]
ENV = "../../environment.yml"

# signal models per analysis (docs/contracts.md); limits are set on the subset in LIMIT_MODELS
SIGNAL_MODELS = {
    "na64e": ["dark_photon", "dark_photon_brem", "dark_photon_annihilation", "lmu_ltau"],
    "na64e_plus": ["dark_photon", "dark_photon_annihilation", "dark_photon_brem"],
    "na64mu": ["lmu_ltau", "dark_photon"],
    "na64h": ["eta_invisible", "etaprime_invisible"],
}
LIMIT_MODELS = {
    "na64e": ["dark_photon", "lmu_ltau", "dark_photon_y_0.1", "dark_photon_y_0.5"],
    "na64e_plus": ["dark_photon", "dark_photon_y_0.1", "dark_photon_y_0.5"],
    "na64mu": ["lmu_ltau", "dark_photon"],
    "na64h": ["eta_invisible", "etaprime_invisible"],
}
ELECTRON_LIKE = [a for a in ANALYSES if config["analyses"][a]["setup"] == "electron"]
# the combination: all beams that have a model in common
COMBINED_MODELS = [m for m in ("dark_photon", "lmu_ltau", "dark_photon_y_0.1", "dark_photon_y_0.5")
                   if sum(m in LIMIT_MODELS[a] for a in ANALYSES) >= 2]
# public likelihoods: one per analysis, and their combination when there are several (publish.py)
LIKELIHOOD_TARGETS = ANALYSES + (["combined"] if len(ANALYSES) > 1 else [])
LIMIT_TARGETS = [(a, m) for a in ANALYSES for m in LIMIT_MODELS[a]] + [("combined", m) for m in COMBINED_MODELS]


# The validated configuration (with --config overrides, without `unblind`) that every `na64flow` call
# reads. Written by the onstart handler, i.e. only when jobs are about to run: a dry run (-n), --report,
# or a refused unblinding write nothing under results/.
CONFIG = str(Path(RESULTS) / "config.yaml")


def write_effective_config():
    text = yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=True)
    path = Path(CONFIG)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


onstart:
    write_effective_config()


if UNBLIND:
    # the guard runs before the DAG exists: without a matching freeze nothing is scheduled or written
    import na64flow.config as _na64config
    from na64flow import NA64Error
    from na64flow.unblind import check_allowed

    try:
        _cfg = _na64config.validate(json.loads(json.dumps(config)), CONFIG)
        check_allowed({**_cfg, "unblind": True, "_path": CONFIG})
    except NA64Error as exc:
        raise WorkflowError(f"unblinding refused, nothing scheduled or written: {exc}") from None


def section_hash(*keys):
    """Hash of configuration sections: a rule's params, so a changed setting re-runs the rule."""
    blob = json.dumps({k: config.get(k) for k in keys}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def analysis_hash(wildcards):
    return f"{section_hash('analyses', 'input', 'seed')}-{section_hash('simulation')}"


def tracklength_table(analysis, run):
    """The cascade track-length table of one e-/e+ run (its simulated signal and its yields share it)."""
    beam = config["analyses"][analysis]["beam"]
    energy = config["analyses"][analysis]["runs"][run]["beam_energy_gev"]
    return f"{RESULTS}/cache/tracklength_{beam}_{energy:g}.npz"


def simulation_inputs(wildcards):
    if wildcards.analysis in ELECTRON_LIKE:
        return [tracklength_table(wildcards.analysis, wildcards.run)]
    return []


def tracklength_tables():
    """The cascade track-length tables the signal yields need: one per (beam, energy) of e-/e+ runs."""
    return sorted({tracklength_table(a, r) for a in ELECTRON_LIKE for r in RUNS[a]})


def histograms(analysis=None):
    pairs = PAIRS if analysis is None else [(analysis, r) for r in RUNS[analysis]]
    return [f"{RESULTS}/histograms/{a}/{r}.pkl" for a, r in pairs]


def event_inputs(wildcards):
    """Inputs of `process`: the simulation manifest, or the configured real ntuples."""
    if SOURCE == "simulation":
        return [f"{RESULTS}/ntuples/{wildcards.analysis}/{wildcards.run}/manifest.json"]
    files = config["input"]["ntuples"].get(wildcards.analysis, {}).get(wildcards.run, {})
    listed = list(files.get("data", [])) + [f for fs in files.get("mc", {}).values() for f in fs]
    if not listed:
        raise ValueError(f"input.ntuples.{wildcards.analysis}.{wildcards.run}: no files configured "
                         "(input.source is 'ntuples')")
    return listed


def signal_tables(analysis, run):
    return [f"{RESULTS}/signal/{analysis}/{m}_{run}.csv" for m in SIGNAL_MODELS[analysis]]


def limit_inputs(wildcards):
    analyses = ANALYSES if wildcards.analysis == "combined" else [wildcards.analysis]
    out = []
    for a in analyses:
        for r in RUNS[a]:
            out += signal_tables(a, r)
            out.append(f"{RESULTS}/background/{a}/{r}.json")
            out.append(f"{RESULTS}/normalisation/{a}/{r}.json")
    return out


def limit_files():
    return [f"{RESULTS}/limits/{a}/{m}.csv" for a, m in LIMIT_TARGETS]


def unblinded_outputs():
    """The declared outputs of `unblind` (results/<tag>/unblinded/, docs/contracts.md)."""
    u = f"{RESULTS}/unblinded"
    out = [f"{u}/counts/{a}/{r}.json" for a, r in PAIRS]
    out += [f"{u}/limits/{a}/{m}.csv" for a, m in LIMIT_TARGETS]
    out += [f"{u}/background/{a}/{r}.{ext}" for a, r in PAIRS for ext in ("json", "md", "tex")]
    if SOURCE != "published":
        out += [f"{u}/histograms/{a}/{r}.pkl" for a, r in PAIRS]
        out += [f"{u}/cutflows/{a}/{r}.{ext}" for a in ANALYSES for r in RUNS[a] + ["summary"]
                for ext in ("csv", "md", "tex")]
    return out


def all_targets():
    if UNBLIND:
        # unblinding builds only its own products: never freeze or any rule of the blinded chain
        u = f"{RESULTS}/unblinded"
        return [f"{u}/audit.json", f"{u}/hepdata/submission.yaml", f"{u}/plots/figures"]
    targets = limit_files() + [f"{RESULTS}/likelihoods/{a}/patchset.json" for a in ANALYSES]
    targets += [f"{RESULTS}/hepdata/submission.yaml", f"{RESULTS}/plots/figures"]
    if SOURCE != "published":
        targets += [f"{RESULTS}/cutflows/{a}/summary.md" for a in ANALYSES]
        targets += [f"{RESULTS}/closure/{a}.md" for a in ANALYSES]
    return targets


def publish_inputs(wildcards=None):
    out = limit_files()
    if SOURCE != "published":
        out += [f"{RESULTS}/cutflows/{a}/summary.md" for a in ANALYSES]
    out += [f"{RESULTS}/background/{a}/{r}.json" for a, r in PAIRS]
    return out

wildcard_constraints:
    analysis="|".join(re.escape(a) for a in ANALYSES + ["combined"]),
    run="|".join(re.escape(r) for r in sorted({r for a in ANALYSES for r in RUNS[a]})),
    beam="e-|e\\+|mu-|mu\\+|pi-",
