# coffea processors: ntuples -> histograms and cut-flows (data blinded in the signal box).


rule process:
    input:
        event_inputs,
    output:
        hists=P("histograms_path", "{analysis}", "{run}"),
    params:
        config=CONFIG,
        code=CODE,   # the package's sources and libraries: changed code re-runs the step
        settings=analysis_hash,
        ntuples=ntuple_state,   # real ntuples: a replaced file re-runs the step even with an old mtime (content)
    log:
        P("log_path", "process", "{analysis}", "{run}"),
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow process --config {params.config:q} --analysis {wildcards.analysis:q} "
        "--run {wildcards.run:q} --workers {threads} --out {output.hists:q} > {log:q} 2>&1"
