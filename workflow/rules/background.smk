# Background per source (side-band extrapolation and simulation), dimuon normalisation, closure tests.


rule background:
    input:
        hists=[] if SOURCE == "published" else P("histograms_path", "{analysis}", "{run}"),
        # the dimuon k of the electron setups is read from the normalisation record, not recomputed
        norm=[] if SOURCE == "published" else P("normalisation_path", "{analysis}", "{run}"),
    output:
        json=P("background_path", "{analysis}", "{run}"),
        table=report(
            P("background_table_path", "{analysis}", "{run}", "md"),
            caption="../report/background.rst",
            category="{analysis}",
            subcategory="background",
        ),
        tex=P("background_table_path", "{analysis}", "{run}", "tex"),
    params:
        config=CONFIG,
        code=CODE,   # the package's sources and libraries: changed code re-runs the step
        settings=section_hash("background", "analyses", "simulation"),
    log:
        P("log_path", "background", "{analysis}", "{run}"),
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow background --config {params.config:q} --analysis {wildcards.analysis:q} "
        "--run {wildcards.run:q} > {log:q} 2>&1"


rule normalisation:
    input:
        [] if SOURCE == "published" else P("histograms_path", "{analysis}", "{run}"),
    output:
        P("normalisation_path", "{analysis}", "{run}"),
    params:
        config=CONFIG,
        code=CODE,   # the package's sources and libraries: changed code re-runs the step
        settings=section_hash("normalisation", "analyses"),
    log:
        P("log_path", "normalisation", "{analysis}", "{run}"),
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow normalisation --config {params.config:q} --analysis {wildcards.analysis:q} "
        "--run {wildcards.run:q} > {log:q} 2>&1"


rule closure:
    input:
        hists=lambda w: histograms(w.analysis),
        # the background records hold the toy rows their central method was decided with: the closure
        # table shows those rows instead of running the same toys again
        background=lambda w: [P("background_path", w.analysis, r) for r in RUNS[w.analysis]],
    output:
        table=report(
            P("closure_path", "{analysis}", "md"),
            caption="../report/closure.rst",
            category="{analysis}",
            subcategory="background",
        ),
        csv=P("closure_path", "{analysis}", "csv"),
        # toy closure: its own table with explicit columns (closure.TOY_COLUMNS), and both tables in LaTeX
        toys=P("closure_path", "{analysis}_toys", "csv"),
        tex=P("closure_path", "{analysis}", "tex"),
        plot=report(
            P("closure_plot_path", "{analysis}", "png"),
            caption="../report/closure.rst",
            category="{analysis}",
            subcategory="background",
        ),
        pdf=P("closure_plot_path", "{analysis}", "pdf"),
    params:
        config=CONFIG,
        code=CODE_ALL,   # the package's sources and libraries: changed code re-runs the step
        settings=section_hash("background", "analyses"),
    log:
        P("log_path", "closure", "{analysis}"),
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow closure --config {params.config:q} --analysis {wildcards.analysis:q} > {log:q} 2>&1"


rule coverage:
    # coverage study of the whole background method (docs/background.md "Coverage"): every run re-simulated
    # in process for background.coverage.n_seeds seeds; no input file (the rate model is rebuilt in process)
    output:
        summary=report(
            f"{RESULTS}/coverage/summary.md",
            caption="../report/background.rst",
            category="coverage",
            subcategory="background",
        ),
        json=f"{RESULTS}/coverage/summary.json",
        seeds=f"{RESULTS}/coverage/seeds.csv",
    params:
        config=CONFIG,
        code=CODE_ALL,   # the package's sources and libraries: changed code re-runs the step
        settings=section_hash("background", "analyses", "simulation", "seed"),
    log:
        f"{RESULTS}/logs/coverage.log",
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow coverage --config {params.config:q} > {log:q} 2>&1"
