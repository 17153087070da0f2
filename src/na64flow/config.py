"""Validate a configuration file against the JSON schema and print its analyses and runs.

The configuration is one YAML file (configs/*.yaml); its schema is
src/na64flow/data/config.schema.yaml (also workflow/schemas/config.schema.yaml for Snakemake).
Errors name the key path and the allowed values.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import yaml

from . import NA64Error
from .samples import SIGNAL_MODES, parse_signal

SCHEMA_RESOURCE = "data/config.schema.yaml"


# libyaml's loader when PyYAML was built with it: the same objects as yaml.SafeLoader, ~7x less CPU
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UniqueKeyLoader(SAFE_LOADER):
    """SAFE_LOADER that refuses a key written twice in one mapping (PyYAML keeps the last one silently:
    a run written twice would lose its first exposure without a word)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:          # an unhashable key: PyYAML's own error follows
                continue
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' written twice (lines {first} and {key_node.start_mark.line + 1}); "
                    "YAML would keep only the last", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml_config(path: str | Path) -> dict:
    """The mapping of a YAML configuration file; NA64Error naming the file for a missing file, a file that
    is not UTF-8 text or not YAML, a key written twice, or a top level that is not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise NA64Error(f"{path}: configuration file not found")
    try:
        cfg = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        raise NA64Error(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise NA64Error(f"{path}: not valid YAML: {exc}") from exc
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise NA64Error(f"{path}: a configuration is a mapping of keys (tag:, analyses:, simulation:, ...); "
                        f"this file holds a {type(cfg).__name__}")
    return cfg


@functools.lru_cache(maxsize=1)
def _parsed_schema() -> dict:
    return yaml.load(resources.files("na64flow").joinpath(SCHEMA_RESOURCE).read_text(), Loader=SAFE_LOADER)


def schema() -> dict:
    """The configuration JSON schema (draft 2020-12, as Snakemake uses), as shipped with the package.

    Parsed once per process (a fresh copy each call: validation puts its defaults into configurations).
    """
    return copy.deepcopy(_parsed_schema())


def _with_defaults(validator_cls):
    """A jsonschema validator that fills in ``default`` values (as snakemake.utils.validate does)."""
    validate_props = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, sch):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, sch)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


def _describe(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    allowed = ""
    if error.validator == "enum":
        allowed = f"; allowed values: {', '.join(map(str, error.validator_value))}"
    elif error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        if known:
            allowed = f"; allowed keys here: {', '.join(known)}"
    elif error.validator == "propertyNames":
        names = error.schema["propertyNames"]
        allowed = (f"; allowed: {', '.join(names['enum'])}" if "enum" in names
                   else f"; names must match {names.get('pattern')} (they become file names and wildcards)")
    if error.validator in ("type", "minItems", "maxItems", "minimum", "exclusiveMinimum") \
            and error.schema.get("description"):
        allowed += f"; expected: {error.schema['description']}"
    return f"key '{path}': {error.message}{allowed}"


def cut_keys(setup: str) -> dict[str, dict]:
    """{cut name: its schema} of one setup (``$defs.cuts_<setup>`` of the configuration schema)."""
    return schema()["$defs"][f"cuts_{setup}"]["properties"]


def _analysis_folders() -> list[str]:
    """The analysis packages under analyses/ (``na64flow_analyses.<name>``)."""
    import pkgutil

    import na64flow_analyses

    return sorted(m.name for m in pkgutil.iter_modules(na64flow_analyses.__path__) if m.ispkg)


def _check_cuts(cfg: dict) -> list[str]:
    """Checks the schema cannot state: windows ordered, and every cut of the setup defined for each run
    (a selection would otherwise stop halfway through processing). Published summaries need no cuts."""
    problems = []
    needs_cuts = (cfg.get("input") or {}).get("source", "simulation") != "published"
    if needs_cuts:
        import importlib.util

        folders = _analysis_folders()
        for a in cfg["analyses"]:
            if importlib.util.find_spec(f"na64flow_analyses.{a}") is None:
                problems.append(f"key 'analyses.{a}': no analysis folder analyses/{a}/ (selection.py, "
                                f"processor.py) to process events with; analyses: {', '.join(folders)}")
    def reversed_windows(cuts: dict | None, where: str) -> list[str]:
        return [f"key '{where}.cuts.{k}': window {v} must be [low, high] with low < high"
                for k, v in (cuts or {}).items() if isinstance(v, list) and len(v) == 2 and not v[0] < v[1]]

    for a, acfg in cfg["analyses"].items():
        keys = cut_keys(acfg["setup"])
        problems += reversed_windows(acfg.get("cuts"), f"analyses.{a}")     # once, not once per run
        for r, rcfg in acfg["runs"].items():
            merged = {**(acfg.get("cuts") or {}), **(rcfg.get("cuts") or {})}
            problems += reversed_windows(rcfg.get("cuts"), f"analyses.{a}.runs.{r}")
            missing = [k for k in keys if k not in merged and not (k == "vhcal_max_gev" and not rcfg.get("vhcal"))]
            if needs_cuts and missing:
                problems.append(f"key 'analyses.{a}.cuts' (run {r}): missing {', '.join(missing)} "
                                f"(every cut of the {acfg['setup']} setup needs a value; see $defs.cuts_{acfg['setup']} "
                                "in workflow/schemas/config.schema.yaml)")
    return problems


SETUP_BEAMS = {"electron": ("e-", "e+"), "muon": ("mu-", "mu+"), "hadron": ("pi-",)}


def _check_references(cfg: dict) -> list[str]:
    """Names the schema cannot check because they refer to other parts of the configuration or to the
    code (analyses, runs, processes, regions, histograms, branches): a typo in any of them would otherwise
    be silently ignored (an injection planting nothing, a side band that replaces nothing, ...)."""
    import importlib

    from .events import branch_names, setup_processes

    problems: list[str] = []
    ana = cfg["analyses"]
    known = _analysis_folders()

    def unknown(where: str, name, allowed) -> None:
        problems.append(f"key '{where}': '{name}' is not known here; allowed: {', '.join(map(str, allowed)) or '(none)'}")

    # one LDM mass ratio: the signal's m_chi/m_A' (A' width, chi chi threshold) and the y tables' m_A'/m_chi
    ldm = ((cfg.get("signal") or {}).get("ldm") or {})
    ratio = (cfg.get("stats") or {}).get("ldm_mass_ratio")
    if "m_chi_ratio" in ldm and ratio is not None and abs(float(ldm["m_chi_ratio"]) * float(ratio) - 1.0) > 1e-6:
        problems.append(f"key 'signal.ldm.m_chi_ratio': {ldm['m_chi_ratio']} is not 1/stats.ldm_mass_ratio "
                        f"(1/{ratio}): the y tables state m_chi = m_A'/{ratio}, so their signal must be computed "
                        "at the same ratio; set both")
    for a, acfg in ana.items():
        if acfg["beam"] not in SETUP_BEAMS[acfg["setup"]]:
            problems.append(f"key 'analyses.{a}.beam': beam '{acfg['beam']}' is not one the {acfg['setup']} setup "
                            f"is simulated for; allowed: {', '.join(SETUP_BEAMS[acfg['setup']])}")
    sim = cfg.get("simulation") or {}
    for i, inj in enumerate(sim.get("inject") or []):
        if inj["analysis"] not in ana:
            unknown(f"simulation.inject[{i}].analysis", inj["analysis"], ana)
        elif str(inj["run"]) not in map(str, ana[inj["analysis"]]["runs"]):
            unknown(f"simulation.inject[{i}].run", inj["run"], ana[inj["analysis"]]["runs"])
    for key in sim.get("run_rate_scale") or {}:
        a, _, r = str(key).partition(":")
        if a not in known:
            unknown(f"simulation.run_rate_scale.{key}", a, [f"<{x}>:<run>" for x in known])
        elif a in ana and r not in map(str, ana[a]["runs"]):
            unknown(f"simulation.run_rate_scale.{key}", f"{a}:{r}", [f"{a}:{x}" for x in ana[a]["runs"]])
    for a in sim.get("signal_modes") or {}:
        if a not in known:
            unknown(f"simulation.signal_modes.{a}", a, known)
    for mode in sim.get("signal_masses_gev") or {}:
        if mode not in SIGNAL_MODES:
            unknown(f"simulation.signal_masses_gev.{mode}", mode, SIGNAL_MODES)

    inp = cfg.get("input") or {}
    setups = sorted({acfg["setup"] for acfg in ana.values()})
    schema_branches = sorted({b for st in setups for b in branch_names(st, truth=True)})
    bmap = inp.get("branches") or {}
    for b in bmap:
        if b not in schema_branches:
            unknown(f"input.branches.{b}", b, schema_branches)
    read_as: dict[str, list[str]] = {}   # file branch -> the schema branches read from it
    for b in schema_branches:
        read_as.setdefault(str(bmap.get(b, b)), []).append(b)
    for real, names in read_as.items():
        if len(names) > 1:
            problems.append(f"key 'input.branches': schema branches {' and '.join(names)} would both be read from "
                            f"the file branch '{real}'; map each schema branch to its own branch")
    own_processes: dict[str, set] = {}
    for a, by_run in (inp.get("ntuples") or {}).items():
        if a not in known:
            unknown(f"input.ntuples.{a}", a, known)
            continue
        if not isinstance(by_run, dict):
            problems.append(f"key 'input.ntuples.{a}': expected {{run: {{data: [files], mc: {{process: [files]}}}}}}")
            continue
        for r, block in by_run.items():
            where = f"input.ntuples.{a}.{r}"
            if a in ana and str(r) not in map(str, ana[a]["runs"]):
                unknown(where, r, ana[a]["runs"])
            if not isinstance(block, dict):
                problems.append(f"key '{where}': expected {{data: [files], mc: {{process: [files]}}}}")
                continue
            for k in block:
                if k not in ("data", "mc", "signal"):
                    unknown(f"{where}.{k}", k, ["data", "mc", "signal"])
            if (isinstance(block.get("data"), str) and block["data"].endswith(".root")
                    and not any(c in block["data"] for c in "*?[")):
                problems.append(f"key '{where}.data': one ROOT file must be written as a list, [{block['data']}] "
                                "(a string names a text file list or a glob)")
            for name in (block.get("signal") or {}) if isinstance(block.get("signal"), dict) else ():
                parsed = parse_signal(str(name))
                if parsed is None or parsed[0] not in SIGNAL_MODES:
                    problems.append(f"key '{where}.signal.{name}': a signal sample is named "
                                    f"signal_<mode>_m<mass_gev> (e.g. signal_brem_m0.01), mode one of "
                                    f"{', '.join(SIGNAL_MODES)}: any other name would be processed and then "
                                    "ignored by every later step")
            mc = block.get("mc") or {}
            if not isinstance(mc, dict):
                problems.append(f"key '{where}.mc': expected {{process: [files]}}")
            elif a in ana:          # real ntuples may name their simulated samples freely
                own_processes.setdefault(ana[a]["setup"], set()).update(mc)

    bkg = cfg.get("background") or {}
    fit_models = bkg.get("fit_models") or _parsed_schema()["properties"]["background"]["properties"][
        "fit_models"]["items"]["enum"]
    # _check_cuts has found every configured analysis's folder (this runs only when it found no problem)
    modules = {a: importlib.import_module(f"na64flow_analyses.{a}.selection").ANALYSIS for a in ana}
    for a, an in modules.items():
        setup = ana[a]["setup"]
        scfg = bkg.get(setup) or {}
        region = scfg["mc_norm_region"] if "mc_norm_region" in scfg else bkg.get("mc_norm_region")
        regions = [rg.name for rg in an.regions]
        if region is not None and region not in regions:
            where = f"background.{setup}.mc_norm_region" if "mc_norm_region" in scfg else "background.mc_norm_region"
            problems.append(f"key '{where}': region '{region}' is not a region of analysis {a}; "
                            f"allowed: {', '.join(regions)}")
        hists = [h.name for h in an.hists] + [f"n1_{c.name}" for c in an.selection.cuts if c.n1 is not None]
        norm = scfg.get("hadron_norm")
        if norm and norm["histogram"] not in hists:
            unknown(f"background.{setup}.hadron_norm.histogram (analysis {a})", norm["histogram"], hists)
        sb = scfg.get("sideband")
        if sb and sb["histogram"] not in hists:
            unknown(f"background.{setup}.sideband.histogram (analysis {a})", sb["histogram"], hists)
    for setup in setups:
        scfg = bkg.get(setup) or {}
        procs = setup_processes(setup) + sorted(own_processes.get(setup, set()) - set(setup_processes(setup)))
        norm = scfg.get("hadron_norm") or {}
        for key in ("processes", "applies_to"):
            for proc in norm.get(key) or []:
                if proc not in procs:
                    unknown(f"background.{setup}.hadron_norm.{key}", proc, procs)
        sb = scfg.get("sideband") or {}
        for proc in sb.get("replaces") or []:
            if proc not in procs:
                unknown(f"background.{setup}.sideband.replaces", proc, procs)
        if sb.get("primary"):
            model, index = sb["primary"]
            if model not in fit_models:
                unknown(f"background.{setup}.sideband.primary", model, fit_models)
            if not isinstance(index, int) or not 0 <= index < len(sb["fit_ranges_gev"]):
                problems.append(f"key 'background.{setup}.sideband.primary': index {index!r} is not an index "
                                f"into fit_ranges_gev (0-{len(sb['fit_ranges_gev']) - 1})")
    return problems


def validate(cfg: dict, source: str = "<config>") -> dict:
    """Validate ``cfg`` in place (filling defaults) and return it; raise NA64Error listing every problem."""
    sch = schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(sch)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors] or _check_cuts(cfg)
    if not problems and (cfg.get("input") or {}).get("source") != "published":
        problems = _check_references(cfg)
    if problems:
        lines = "\n  ".join(problems)
        raise NA64Error(f"{source}: invalid configuration:\n  {lines}")
    return cfg


def _set_dotted(cfg: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = cfg
    for i, k in enumerate(keys[:-1]):
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise NA64Error(f"override '{dotted}': '{'.'.join(keys[:i + 1])}' is "
                            f"a value ({node!r}), not a section with keys")
    node[keys[-1]] = value


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict:
    """Read a YAML configuration, apply ``overrides`` ({"a.b.c": value}), validate, return the dict."""
    path = Path(path)
    cfg = read_yaml_config(path)
    refuse_unblind_in_file(path, cfg)          # the request comes only from the overrides
    for key, value in (overrides or {}).items():
        _set_dotted(cfg, key, value)
    cfg.pop("unblind", None)
    cfg = validate(cfg, str(path))
    cfg["unblind"] = unblind_request((overrides or {}).get("unblind"), str(path))
    cfg["_path"] = str(path)
    return cfg


def refuse_unblind_in_file(path: str | Path, cfg: dict) -> None:
    """NA64Error when the configuration file ``path`` (read as ``cfg``) asks for unblinding (``unblind``
    other than false, quoted or not): the request is made only on the command line, for `na64flow
    unblind` and for Snakemake alike, never by a file that could be copied or committed."""
    raw = _raw_unblind(Path(path), cfg)
    if raw not in (None, "false", "False"):
        raise NA64Error(f"{path}: unblind={raw!r} in a configuration file refused: unblinding is requested "
                        "only on the command line with the literal `--config unblind=true` (Snakemake) or "
                        "`--set unblind=true` (na64flow unblind)")


def _raw_unblind(path: Path, cfg: dict):
    """The file's ``unblind`` value as written (YAML BaseLoader: ``yes`` stays the text "yes")."""
    if "unblind" not in cfg:
        return None
    raw = yaml.load(path.read_text(), Loader=yaml.BaseLoader) or {}
    return raw.get("unblind") if isinstance(raw, dict) else None


def unblind_request(value: Any, where: str = "config") -> bool:
    """Is unblinding requested? Only the literal ``true`` is a request (only `na64flow unblind` looks).

    True for the boolean True or the text "true"; False for absent, False, "false" or "False". Anything
    else (``yes``, ``on``, ``1``, ``True`` as text, ...) is refused with an NA64Error: a typo or a YAML
    1.1 boolean must not unblind. No other step reads this value: `process` and everything after it
    always blind the data.
    """
    if value is None or value is False or value in ("false", "False"):
        return False
    if value is True or value == "true":
        return True
    raise NA64Error(f"{where}: unblind={value!r} refused: only the literal `true` requests unblinding "
                    "(--set unblind=true; Snakemake: --config unblind=true); yes/on/1/True are not accepted")


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["stats.n_toys=500", "tag=x"]`` -> {"stats.n_toys": 500, "tag": "x"} (YAML values).

    ``unblind`` keeps its text as typed (``unblind=yes`` stays "yes" and is refused by
    :func:`unblind_request`, not read as the YAML 1.1 boolean).
    """
    out = {}
    for item in items or []:
        if "=" not in item:
            raise NA64Error(f"override '{item}' must look like key.path=value")
        k, v = item.split("=", 1)
        k = k.strip()
        out[k] = v.strip() if k == "unblind" else yaml.safe_load(v)
    return out


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--config`` and ``--set`` options every step shares."""
    parser.add_argument("--config", "-c", required=True, help="workflow configuration (configs/*.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                        help="override a configuration value, e.g. --set stats.n_toys=2000 (repeatable)")


def add_analysis_arguments(parser: argparse.ArgumentParser, run: bool = True) -> None:
    """The ``--analysis`` (and ``--run``) options of the per-analysis steps."""
    parser.add_argument("--analysis", required=True,
                        help="analysis name (analyses.<name> in the config: na64e, na64e_plus, na64mu, na64h)")
    if run:
        parser.add_argument("--run", required=True,
                            help="run period (analyses.<analysis>.runs.<run>, e.g. 2016-2022)")


def config_from_args(args: argparse.Namespace) -> dict:
    return load_config(args.config, parse_overrides(getattr(args, "overrides", None)))


# ---------------------------------------------------------------------------------------------
# access helpers with clear errors


def analysis_config(cfg: dict, analysis: str) -> dict:
    """The ``analyses.<analysis>`` block; NA64Error naming the configured analyses if unknown."""
    analyses = cfg["analyses"]
    if analysis not in analyses:
        raise NA64Error(f"unknown analysis '{analysis}' in {cfg.get('_path', 'config')}; "
                        f"configured: {', '.join(analyses)}")
    return analyses[analysis]


def run_config(cfg: dict, analysis: str, run: str) -> dict:
    """The ``analyses.<analysis>.runs.<run>`` block; NA64Error naming the configured runs if unknown."""
    runs = analysis_config(cfg, analysis)["runs"]
    if str(run) not in runs:
        raise NA64Error(f"unknown run '{run}' for analysis '{analysis}'; configured: {', '.join(runs)}")
    return runs[str(run)]


def runs_of(cfg: dict, analysis: str) -> list[str]:
    return [str(r) for r in analysis_config(cfg, analysis)["runs"]]


def cuts_for(cfg: dict, analysis: str, run: str) -> SimpleNamespace:
    """The analysis cuts with the run's overrides applied, plus run facts (beam energy, vhcal, n_ot).

    Attribute access (``cuts.ecal_max_gev``) as used by the selection functions.
    """
    acfg = analysis_config(cfg, analysis)
    rcfg = run_config(cfg, analysis, run)
    merged = dict(acfg.get("cuts", {}))
    merged.update(rcfg.get("cuts", {}))
    merged.update(beam_energy_gev=rcfg["beam_energy_gev"], vhcal=rcfg.get("vhcal", False),
                  n_ot=rcfg["n_ot"], run=str(run), analysis=analysis, setup=acfg["setup"], beam=acfg["beam"])
    return SimpleNamespace(**merged)


def section(cfg: dict, name: str) -> dict:
    """A step's own configuration section (always a dict)."""
    return cfg.get(name) or {}


def merged_section(cfg: dict, name: str, defaults: dict) -> dict:
    """A step's section merged over its ``defaults`` (nested dicts merged one level deep)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in defaults.items()}
    for k, v in section(cfg, name).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k].update(v)
        else:
            out[k] = v
    return out


def stable_hash(obj: Any) -> str:
    """sha256 of a JSON-serialisable object with sorted keys (used by freeze/unblind and caches)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


# ---------------------------------------------------------------------------------------------
# the `check-config` step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    print(f"{args.config}: valid (tag '{cfg['tag']}')")
    for name, a in cfg["analyses"].items():
        runs = ", ".join(f"{r} ({v['n_ot']:.3g} OT at {v['beam_energy_gev']:g} GeV)" for r, v in a["runs"].items())
        print(f"  {name} [{a['setup']}, {a['beam']}]: {runs}")
    return 0
