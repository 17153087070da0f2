# NA64 blinded analysis workflow.
#   snakemake --cores all                                   full default reproduction (simulation)
#   snakemake --cores all --configfile configs/published.yaml   published NA64 results, no events
#   snakemake --cores all freeze                            freeze the analysis (hash + expected limits)
#   snakemake --cores all --config unblind=true             unblind (only if the freeze still matches)
#   snakemake --report results/default/report.html          HTML report of every table and plot
# Every rule is a thin call of one `na64flow <step>`; see docs/contracts.md for the files in between.

from snakemake.utils import min_version

min_version("8.20")


# the default configuration only when none is given: `--configfile X` replaces it instead of being
# deep-merged into it (a merge would leak the default's runs into e.g. configs/published.yaml)
if not workflow.overwrite_configfiles:

    configfile: "configs/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/process.smk"
include: "workflow/rules/cutflow.smk"
include: "workflow/rules/physics.smk"
include: "workflow/rules/background.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/publish.smk"
include: "workflow/rules/report.smk"


report: report_text()


rule all:
    input:
        all_targets(),
    default_target: True
