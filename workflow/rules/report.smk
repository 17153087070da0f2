# The landing page of `snakemake --report`: which steps completed and the headline numbers
# (na64flow.report). Only built when a report is asked for; written under .snakemake/ (Snakemake's own
# folder), never under results/.

import sys


def expected_outputs():
    """{step: files it must have written}, from the same helpers that build the DAG."""
    steps = {}
    if SOURCE == "simulation":
        steps["simulate"] = [P("manifest_path", a, r) for a, r in PAIRS]
    if SOURCE != "published":
        steps["process"] = histograms()
        steps["cutflow"] = [P("cutflow_path", a, "summary", "md") for a in ANALYSES]
        steps["normalisation"] = [P("normalisation_path", a, r) for a, r in PAIRS]
        steps["closure"] = [P("closure_path", a, "md") for a in ANALYSES]
    steps["background"] = [P("background_path", a, r) for a, r in PAIRS]
    steps["signal"] = [t for a, r in PAIRS for t in signal_tables(a, r)]
    steps["limits"] = limit_files() + run_limit_files()
    steps["publish"] = [P("likelihood_path", a, "patchset.json") for a in LIKELIHOOD_TARGETS] + [
        P("hepdata_submission_path"), P("hepdata_archive_path"), P("likelihood_archive_path")]
    steps["plot"] = [P("figures_dir")]
    return steps


def report_text():
    """The landing page: workflow/report/workflow.rst, then the completion table and headline numbers."""
    static = Path(workflow.basedir) / "workflow" / "report" / "workflow.rst"
    if not any(a == "--report" or a.startswith("--report=") for a in sys.argv):
        return str(static)
    from na64flow.report import landing_page

    text = landing_page(config, expected_outputs(), intro=static.read_text())
    out = Path(".snakemake") / "na64flow" / "report-landing.rst"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return str(out.resolve())
