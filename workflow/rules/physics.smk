# Signal yields from physics: cascade track-length tables (cached), then yield tables per run.


rule tracklengths:
    output:
        P("tracklength_path", "{beam}", "{energy}"),
    params:
        config=CONFIG,
        code=CODE,   # the package's sources and libraries: changed code re-runs the step
        settings=section_hash("signal"),
    log:
        P("log_path", "tracklengths", "{beam}_{energy}"),
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow tracklengths --config {params.config:q} --beam {wildcards.beam:q} "
        "--energy-gev {wildcards.energy:q} --out {output:q} > {log:q} 2>&1"


for _a in ANALYSES:
    for _r in RUNS[_a]:

        rule:
            name:
                f"signal_{_a}_{_r}".replace("-", "_")
            input:
                hists=[] if SOURCE == "published" else P("histograms_path", _a, _r),
                tables=tracklength_tables(),
            output:
                signal_tables(_a, _r),
            params:
                config=CONFIG,
                code=CODE,   # the package's sources and libraries: changed code re-runs the step
                analysis=_a,
                run=_r,
                settings=section_hash("signal", "analyses"),
            log:
                P("log_path", "signal", _a, _r),
            conda:
                ENV
            shell:
                "\"$NA64FLOW_PYTHON\" -m na64flow signal --config {params.config:q} --analysis {params.analysis:q} "
                "--run {params.run:q} > {log:q} 2>&1"
