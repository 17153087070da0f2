# Cut-flow tables (CSV, Markdown, LaTeX) per run and a summary across runs, one rule per analysis
# (the runs, hence the output files, differ between analyses).

for _a in ANALYSES:

    rule:
        name:
            f"cutflow_{_a}"
        input:
            histograms(_a),
        output:
            runs=expand(f"{RESULTS}/cutflows/{_a}/{{run}}.{{ext}}", run=RUNS[_a], ext=["csv", "md", "tex"]),
            summary=report(
                f"{RESULTS}/cutflows/{_a}/summary.md",
                caption="../report/cutflow.rst",
                category=_a,
                subcategory="cut-flow",
            ),
            summary_other=expand(f"{RESULTS}/cutflows/{_a}/summary.{{ext}}", ext=["csv", "tex"]),
        params:
            config=CONFIG,
            analysis=_a,
        log:
            f"{RESULTS}/logs/cutflow/{_a}.log",
        conda:
            ENV
        shell:
            "na64flow cutflow --config {params.config:q} --analysis {params.analysis:q} > {log:q} 2>&1"
