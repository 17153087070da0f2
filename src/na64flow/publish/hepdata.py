"""HEPData submission (hepdata_lib 0.21, no images): limits, cut flows and backgrounds, validated.

Conventions (checked by tests/test_hepdata_conventions.py on the written YAML):

* counts are exact: integer data counts are written as integers (no relative rounding), weighted
  numbers with 6 significant digits;
* limits: the expected median with asymmetric errors "1 sigma"/"2 sigma" (signed: minus < 0 < plus) for
  the bands, qualifier ``CL: <stats.cl>`` (90%); a band of zero width (its quantiles at the same n_obs) has no error
  entry, never "symerror: 0" (the description says so); the observed limit only when ``observed`` is asked for;
  the description states the statistical method (``stats.settings.method_text``) and, where the signal has
  resonant annihilation on e-/e+ beams, its alpha_D, m_A'/m_chi and chi kind (``inputs.ldm_assumption``);
* upper values: a background source known only by an upper value has "-" in the estimate column and its
  bound in a separate column "Upper value on expected events" (qualifier ``Limit: upper value``); no
  value-0-with-error-equal-to-the-bound, no zero "total" errors on the sources;
* ``cmenergies``: sqrt(s) in GeV of the beam on a nucleon at rest (fixed target), with the beam energy
  as a qualifier of every dependent variable (``E_beam`` and ``SQRT(S)``, both GeV), of the runs the table
  is made from: one run's for cut flows and backgrounds, the analyses of the model's likelihood for combined
  limits (:func:`beams_of`);
* every table links the result file it was made from as an additional resource copied into the
  submission (unique names), so every resource path exists; ``location`` names that file (there is
  no paper figure to point to; hepdata_lib's placeholder "Example location" is never written);
* after unblinding (``observed=True`` on ``paths.observed_view(cfg)``: the unblind step's cut flows) the
  data box row of the cut flow is the observed count; a blinded cut flow is refused there.

:func:`write_hepdata` takes the output folder and ``observed`` so that the blinded and the unblinded
submissions are one call each (the unblind step writes results/<tag>/unblinded/hepdata/).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import shutil
import tempfile
from pathlib import Path

from .. import NA64Error, paths, registry
from ..config import analysis_config, runs_of, section
from ..histograms import BLINDED
from ..stats.settings import cl_text, method_text
from .archive import write_folder_tar_gz
from .inputs import analyses_of, background_of, ldm_assumption, ldm_text, read_cutflow, read_limits
from .likelihoods import likelihood_archive

log = logging.getLogger(__name__)

M_NUCLEON_GEV = 0.93827   # proton mass [lit PDG]; sqrt(s) of a fixed-target beam on a nucleon at rest
BEAM_MASS_GEV = {"e-": 0.000511, "e+": 0.000511, "mu-": 0.10566, "mu+": 0.10566, "pi-": 0.13957}  # [lit PDG]
COUNT_DIGITS = 17          # relative digits for exact integer counts (hepdata_lib rounds to 5 by default)
FLOAT_DIGITS = 6


def sqrt_s_gev(beam_energy_gev: float, beam: str) -> float:
    """sqrt(s) = sqrt(m_b^2 + m_N^2 + 2 E_b m_N) of a beam particle on a nucleon at rest."""
    m_b = BEAM_MASS_GEV.get(beam, 0.0)
    return math.sqrt(m_b ** 2 + M_NUCLEON_GEV ** 2 + 2 * beam_energy_gev * M_NUCLEON_GEV)


def beams_of(cfg: dict, analysis: str, run: str | None = None, model: str | None = None) -> list[tuple[str, float]]:
    """(beam, energy in GeV) of the runs a table is made from, sorted, unique: one run's (``run``), every run
    of ``analysis``, or for ``combined`` every run of the analyses in ``model``'s likelihood
    (``registry.combined_members``; without ``model``, of every combination)."""
    members = registry.combined_analyses(cfg, model) if analysis == registry.COMBINED else [analysis]
    out = set()
    for a in members:
        acfg = analysis_config(cfg, a)
        for r in [run] if run is not None else runs_of(cfg, a):
            out.add((acfg["beam"], float(acfg["runs"][r]["beam_energy_gev"])))
    return sorted(out)


def _energies(table, variables, cfg: dict, analysis: str, run: str | None = None, model: str | None = None) -> None:
    """cmenergies keyword (sqrt(s) per nucleon) and E_beam / SQRT(S) qualifiers on the dependent variables,
    of the beams the table is made from (:func:`beams_of`)."""
    beams = beams_of(cfg, analysis, run, model)
    table.keywords["cmenergies"] = sorted({round(sqrt_s_gev(e, b), 3) for b, e in beams})
    for v in variables:
        for b, e in beams:
            v.add_qualifier("E_beam", f"{e:g} ({b})", "GeV")
            v.add_qualifier("SQRT(S)", f"{sqrt_s_gev(e, b):.3f} (on a nucleon at rest)", "GeV")


def _attach(table, stage: Path | None, source: Path, name: str, description: str) -> None:
    """Copy ``source`` to ``stage/name`` and link it from the table (the copy travels in the submission)."""
    if stage is None or not source.exists():
        return
    target = stage / name
    shutil.copyfile(source, target)
    table.add_additional_resource(description, str(target), copy_file=True)
    table.location = f"made from {name} (included in this submission)"


# ------------------------------------------------------------------------------------------------
# tables


def limit_table(path: Path, analysis: str, model: str | None = None, cfg: dict | None = None, *,
                observed: bool = False, stage: Path | None = None):
    """hepdata_lib Table of one limits CSV: expected median with +-1/+-2 sigma bands, observed if asked."""
    from hepdata_lib import Table, Uncertainty, Variable

    rows = read_limits(path)
    if not rows:
        return None
    model = model or path.stem
    first = next(iter(rows[0]))
    spec, alpha_d = registry.parse_model(model)
    if first == "meson":
        xname, xunits = "Meson", ""
    elif first == "m_chi_gev":
        xname, xunits = "$m_{\\chi}$", "GeV"
    else:
        xname, xunits = spec.mass_label, "GeV"
    what = (f"y ($\\alpha_D$ = {model.split('_y_')[1]}, $m_{{A'}} = 3 m_\\chi$)" if alpha_d is not None
            else spec.coupling_label)
    has_obs = observed and any(r.get("obs") is not None for r in rows)
    if observed and not has_obs:
        log.warning("%s: observed limits asked for but the 'obs' column is empty: expected only", path)
    zero_width = [i for i, r in enumerate(rows) if r["exp_m2"] == r["exp"] == r["exp_p2"]]
    table = Table(f"Limits {analysis} {model}")
    table.location = f"results/<tag>/limits/{analysis}/{path.name} of the na64flow workflow"
    cl = cl_text(cfg)
    table.description = (f"{cl} CL upper limits (CLs) on {what} for the model '{model}' ({analysis}): expected "
                         "median with its 68% (1 sigma) and 95% (2 sigma) bands as asymmetric errors"
                         + ("; observed limit" if has_obs else
                            "; no observed limit in the limits file" if observed else "; blinded, no observed limit")
                         + "."
                         + (f" {len(zero_width)} points have bands of zero width (the background is so small that "
                            "every quantile of the pseudo-experiments is n_obs = 0)." if zero_width else "")
                         + " A band of zero width (its quantiles all at the same n_obs) has no error entry."
                         + (f" {ldm_text(ldm)}" if cfg is not None and (ldm := ldm_assumption(cfg, analysis, model))
                            else "")
                         + f" {method_text(cfg, observed=bool(has_obs))}")
    table.keywords["observables"] = ["UL"]
    x = Variable(xname, is_independent=True, is_binned=False, units=xunits)
    x.values = [r[first] for r in rows]
    x.digits = FLOAT_DIGITS
    table.add_variable(x)
    exp = Variable(f"Expected upper limit on {what}", is_independent=False, is_binned=False)
    exp.values = [r["exp"] for r in rows]
    exp.digits = FLOAT_DIGITS
    exp.add_qualifier("CL", cl)
    for label, lo, hi in (("1 sigma", "exp_m1", "exp_p1"), ("2 sigma", "exp_m2", "exp_p2")):
        unc = Uncertainty(label, is_symmetric=False)
        unc.values = [(r[lo] - r["exp"], r[hi] - r["exp"]) for r in rows]
        # a band of zero width has no error entry (hepdata_lib would write "symerror: 0"); its setter takes no
        # None, its writer skips None entries
        unc._values = [None if r[lo] == r["exp"] == r[hi] else v for r, v in zip(rows, unc.values, strict=True)]
        exp.add_uncertainty(unc)
    exp.zero_uncertainties_warning = False
    dependent = [exp]
    if has_obs:
        obs = Variable(f"Observed upper limit on {what}", is_independent=False, is_binned=False)
        obs.values = [r["obs"] if r.get("obs") is not None else "-" for r in rows]
        obs.digits = FLOAT_DIGITS
        obs.add_qualifier("CL", cl)
        dependent.append(obs)
    if cfg is not None:
        _energies(table, dependent, cfg, analysis, model=model)
    for v in dependent:
        table.add_variable(v)
    _attach(table, stage, path, f"limits_{analysis}_{path.name}", f"Limits CSV ({path.name}) this table is made from")
    return table


def _count(v):
    """Exact integers as int, other numbers as float, text as is."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53:
        return int(v)
    return v


def cutflow_table(path: Path, analysis: str, cfg: dict | None = None, *, observed: bool = False,
                  stage: Path | None = None, run: str | None = None):
    """hepdata_lib Table of one cut-flow CSV (:func:`read_cutflow`): cuts vs events per sample.

    With ``observed`` the table must be an observed (unblinded) cut flow, whose data box row is the
    observed count; a blinded one is an error, so an "observed" submission never shows "blinded".
    """
    from hepdata_lib import Table, Uncertainty, Variable

    run = run or path.stem
    steps, values, errors = read_cutflow(path)
    blinded_rows = [st for st, v in zip(steps, values.get("data", []), strict=False) if v == BLINDED]
    if observed and blinded_rows:
        raise NA64Error(f"{path}: observed cut flow asked for but the data rows {blinded_rows} are blinded; the "
                        "observed cut flows are written by `na64flow unblind` under results/<tag>/unblinded/cutflows "
                        "(read them with paths.observed_view, i.e. `na64flow publish --observed`)")
    table = Table(f"Cut flow {analysis} {run}")
    table.location = f"results/<tag>/cutflows/{analysis}/{run}.csv of the na64flow workflow"
    table.description = (f"Cut flow of {analysis}, run {run}: events after each cut for data (exact counts) and every "
                         "simulated sample (MC weighted to the run's exposure, with the MC statistical error; "
                         "importance-sampled samples carry non-uniform weights, so only weighted numbers are "
                         "physical). Signal samples are generated inside the signal acceptance (weight 1): their "
                         "rows are efficiencies x generated events, conditional on acceptance. "
                         + ("The data box row is the observed count (unblinded)." if observed else
                            "The data box row is 'blinded' until unblinding."))
    table.keywords["observables"] = ["N"]
    x = Variable("Cut", is_independent=True, is_binned=False)
    x.values = steps
    table.add_variable(x)
    dependent = []
    for sample, vals in values.items():
        y = Variable(f"Events ({sample})", is_independent=False, is_binned=False)
        ints = all(not isinstance(v, float) or v.is_integer() for v in vals)
        y.values = [_count(v) for v in vals] if ints else vals
        y.digits = COUNT_DIGITS if ints else FLOAT_DIGITS
        errs = errors[sample]
        if not sample == "data" and any(isinstance(e, float) and e > 0 for e in errs):
            unc = Uncertainty("MC stat", is_symmetric=True)
            unc.values = [e if isinstance(e, float) and isinstance(v, float) else None for e, v in zip(errs, vals, strict=True)]
            y.add_uncertainty(unc)
            y.zero_uncertainties_warning = False
        dependent.append(y)
    if cfg is not None:
        _energies(table, dependent, cfg, analysis, run)
    for y in dependent:
        table.add_variable(y)
    _attach(table, stage, path, f"cutflow_{analysis}_{run}.csv", "Cut-flow CSV (all columns) this table is made from")
    return table


def background_table(cfg: dict, analysis: str, run: str, *, stage: Path | None = None):
    """hepdata_lib Table of the background sources of one run: estimate (stat, syst), upper values apart."""
    from hepdata_lib import Table, Uncertainty, Variable

    bkg = background_of(cfg, analysis, run)
    sources = bkg["sources"]
    upper = [s for s in sources if s.get("upper_value") is not None]
    table = Table(f"Background {analysis} {run}")
    table.location = (f"published background table quoted in the configuration (analyses.{analysis}.runs.{run}.published)"
                      if cfg["input"]["source"] == "published" else
                      f"results/<tag>/background/{analysis}/{run}.json of the na64flow workflow")
    in_total = {False: " Upper values are not added to the total.", True: " Upper values are in the total.",
                None: ""}[bkg.get("upper_values_in_total")]
    table.description = (f"Expected background in the signal box of {analysis}, run {run}, per source; "
                         f"total {bkg['estimate']:.3g} +- {bkg['uncertainty']:.2g} events. Sources known only by an "
                         "upper value have '-' as estimate and their bound in the column 'Upper value'." + in_total
                         + " Methods: " + "; ".join(f"{s['name']}: {s.get('method') or 'n/a'}" for s in sources) + ".")
    table.keywords["observables"] = ["N"]
    x = Variable("Source", is_independent=True, is_binned=False)
    x.values = [s["name"] for s in sources] + ["total"]
    table.add_variable(x)
    y = Variable("Expected events", is_independent=False, is_binned=False)
    y.values = ["-" if s.get("upper_value") is not None else float(s["estimate"]) for s in sources] + [bkg["estimate"]]
    y.digits = FLOAT_DIGITS

    def err(s, key):
        return None if s.get("upper_value") is not None or s.get(key) is None else float(s[key])

    have_split = any(s.get("stat") is not None for s in sources)
    if have_split:
        for label in ("stat", "syst"):
            unc = Uncertainty(label, is_symmetric=True)
            total_part = bkg.get(label)
            unc.values = [err(s, label) for s in sources] + [None if total_part is None else float(total_part)]
            y.add_uncertainty(unc)
        if bkg.get("stat") is None:   # the total has only its combined uncertainty
            unc = Uncertainty("total", is_symmetric=True)
            unc.values = [None] * len(sources) + [bkg["uncertainty"]]
            y.add_uncertainty(unc)
    else:                             # published tables: one uncertainty per source and for the total
        unc = Uncertainty("total", is_symmetric=True)
        unc.values = [err(s, "syst") for s in sources] + [bkg["uncertainty"]]
        y.add_uncertainty(unc)
    y.zero_uncertainties_warning = False
    dependent = [y]
    if upper:
        u = Variable("Upper value on expected events", is_independent=False, is_binned=False)
        u.values = [float(s["upper_value"]) if s.get("upper_value") is not None else "-" for s in sources] + ["-"]
        u.digits = FLOAT_DIGITS
        u.add_qualifier("Limit", "upper value" + (" (68% CL)" if bkg.get("upper_values_in_total") is False else ""))
        dependent.append(u)
    _energies(table, dependent, cfg, analysis, run)
    for v in dependent:
        table.add_variable(v)
    if cfg["input"]["source"] != "published":
        _attach(table, stage, paths.background_path(cfg, analysis, run), f"background_{analysis}_{run}.json",
                "Background JSON (every source with its inputs) this table is made from")
    return table


# ------------------------------------------------------------------------------------------------
# submission


def default_observed(cfg: dict) -> bool:
    """Observed results are shown by default only for published configurations (public counts); the
    blinded products never show them, even with ``unblind: true`` (the unblinded set is its own call:
    ``observed=True`` on ``paths.observed_view(cfg)``, i.e. ``--observed``)."""
    return cfg["input"]["source"] == "published"


def hepdata_submission(cfg: dict, *, observed: bool | None = None, limits_dir: Path | None = None,
                       stage: Path | None = None):
    """The hepdata_lib Submission with every limit, cut-flow and background table that exists."""
    from hepdata_lib import Submission

    observed = default_observed(cfg) if observed is None else observed
    pub = section(cfg, "publish")
    sub = Submission()
    sub.comment = pub.get("hepdata", {}).get("comment", "NA64 results (na64flow)")
    root = paths.results_dir(cfg)
    limits_dir = Path(limits_dir) if limits_dir else root / "limits"
    archive = likelihood_archive(cfg)
    if archive is not None:
        sub.add_additional_resource("Full pyhf likelihoods: per analysis BkgOnly.json + patchset.json (one patch "
                                    "per model and mass)", str(archive), copy_file=True, file_type="HistFactory")
    n = {"limits": 0, "cutflows": 0, "background": 0}
    for analysis in analyses_of(cfg) + [registry.COMBINED]:
        # file-name order (as the tables have always been listed)
        for model in sorted(registry.limit_models(cfg, analysis), key=lambda m: f"{m}.csv"):
            path = limits_dir / analysis / f"{model}.csv"
            if not path.exists():
                log.warning("%s: limit table missing (made by `na64flow limits`), not in the submission", path)
                continue
            table = limit_table(path, analysis, model, cfg, observed=observed, stage=stage)
            if table is not None:
                sub.add_table(table)
                n["limits"] += 1
    for analysis in analyses_of(cfg):
        for run in runs_of(cfg, analysis):
            path = paths.cutflow_path(cfg, analysis, run, "csv")
            if path.exists() and (table := cutflow_table(path, analysis, cfg, observed=observed, stage=stage,
                                                         run=run)) is not None:
                sub.add_table(table)
                n["cutflows"] += 1
            has_bkg = (cfg["input"]["source"] == "published"
                       and analysis_config(cfg, analysis)["runs"][run].get("published", {}).get("background_sources")) \
                or paths.background_path(cfg, analysis, run).exists()
            if has_bkg:
                sub.add_table(background_table(cfg, analysis, run, stage=stage))
                n["background"] += 1
    return sub, n


def write_hepdata(cfg: dict, out_dir: Path | None = None, *, observed: bool | None = None,
                  limits_dir: Path | None = None, validate: bool = False) -> dict:
    """Write ``out_dir`` (default results/<tag>/hepdata/: YAML tables + submission.yaml + linked files)
    and ``<out_dir>.tar.gz`` next to it. ``observed``: include observed limits and the observed box
    count (default: published configurations only); ``limits_dir``: where the limit
    CSVs are (default results/<tag>/limits). ``validate``: check the staged folder with
    hepdata-validator first; a submission it refuses raises NA64Error and replaces nothing."""
    out = Path(out_dir) if out_dir else paths.hepdata_dir(cfg)
    paths.ensure_writable(out.parent)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".hepdata-"))
    try:
        stage = tmp / "stage"
        stage.mkdir()
        sub, n = hepdata_submission(cfg, observed=observed, limits_dir=limits_dir, stage=stage)
        if not sub.tables:
            log.warning("no limit, cut-flow or background tables found: no HEPData submission written")
            return n
        # hepdata_lib writes submission.tar.gz into the working directory: run it inside tmp
        chatter = io.StringIO()   # hepdata_lib prints notes on zero-uncertainty bins: keep them for debug
        with contextlib.chdir(tmp), contextlib.redirect_stdout(chatter):
            sub.create_files("hepdata", validate=False)
        log.debug("hepdata_lib: %s", chatter.getvalue())
        errors = validate_hepdata(tmp / "hepdata") if validate else []
        if errors:
            raise NA64Error(f"{out}: HEPData submission does not validate (not written; the previous one, if any, "
                            "is unchanged):\n  " + "\n  ".join(errors))
        if out.exists():
            shutil.rmtree(out)
        (tmp / "hepdata").replace(out)
        archive = paths.hepdata_archive_path(cfg) if out_dir is None else out.parent / f"{out.name}.tar.gz"
        # the same members as hepdata_lib's submission.tar.gz, packed reproducibly (no time, no user)
        write_folder_tar_gz(archive, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote %s: %s", out, ", ".join(f"{v} {k} tables" for k, v in n.items()))
    return n


def validate_hepdata(directory: Path) -> list[str]:
    """Validate a submission folder with hepdata-validator; return the error messages (empty = valid)."""
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    validator = FullSubmissionValidator()
    ok = validator.validate(directory=str(directory))
    if ok:
        return []
    return [f"{f}: {m.message}" for f, msgs in validator.get_messages().items() for m in msgs]
