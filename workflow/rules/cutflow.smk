# Cut-flow tables (CSV, Markdown, LaTeX) per run and a summary across runs, one rule per analysis
# (the runs, hence the output files, differ between analyses).

for _a in ANALYSES:

    rule:
        name:
            f"cutflow_{_a}"
        input:
            histograms(_a),
        output:
            runs=[P("cutflow_path", _a, r, ext) for r in RUNS[_a] for ext in ("csv", "md", "tex")],
            summary=report(
                P("cutflow_path", _a, "summary", "md"),
                caption="../report/cutflow.rst",
                category=_a,
                subcategory="cut-flow",
            ),
            summary_other=[P("cutflow_path", _a, "summary", ext) for ext in ("csv", "tex")],
        params:
            config=CONFIG,
            code=CODE,   # the package's sources and libraries: changed code re-runs the step
            analysis=_a,
        log:
            P("log_path", "cutflow", _a),
        conda:
            ENV
        shell:
            "\"$NA64FLOW_PYTHON\" -m na64flow cutflow --config {params.config:q} --analysis {params.analysis:q} > {log:q} 2>&1"
