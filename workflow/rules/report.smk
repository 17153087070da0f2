# The landing page of `snakemake --report`: which steps completed and the headline numbers
# (na64flow.report). Only built when a report is asked for; written under .snakemake/ (Snakemake's own
# folder), never under results/.

import sys


def expected_outputs():
    """{step: files it must have written}, from the same helpers that build the DAG."""
    steps = {}
    if SOURCE == "simulation":
        steps["simulate"] = [f"{RESULTS}/ntuples/{a}/{r}/manifest.json" for a, r in PAIRS]
    if SOURCE != "published":
        steps["process"] = histograms()
        steps["cutflow"] = [f"{RESULTS}/cutflows/{a}/summary.md" for a in ANALYSES]
        steps["normalisation"] = [f"{RESULTS}/normalisation/{a}/{r}.json" for a, r in PAIRS]
        steps["closure"] = [f"{RESULTS}/closure/{a}.md" for a in ANALYSES]
    steps["background"] = [f"{RESULTS}/background/{a}/{r}.json" for a, r in PAIRS]
    steps["signal"] = [t for a, r in PAIRS for t in signal_tables(a, r)]
    steps["limits"] = limit_files()
    steps["publish"] = [f"{RESULTS}/likelihoods/{a}/patchset.json" for a in LIKELIHOOD_TARGETS] + [
        f"{RESULTS}/hepdata/submission.yaml", f"{RESULTS}/hepdata.tar.gz", f"{RESULTS}/likelihoods.tar.gz"]
    steps["plot"] = [f"{RESULTS}/plots/figures"]
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
