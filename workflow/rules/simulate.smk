# Fast simulation of the NA64 setups (only when input.source is "simulation").


rule simulate:
    input:
        simulation_inputs,
    output:
        manifest=P("manifest_path", "{analysis}", "{run}"),
    params:
        config=CONFIG,
        code=CODE,   # the package's sources and libraries: changed code re-runs the step
        settings=analysis_hash,
    log:
        P("log_path", "simulate", "{analysis}", "{run}"),
    threads: 2
    resources:
        mem_mb=2500,
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow simulate --config {params.config:q} --analysis {wildcards.analysis:q} "
        "--run {wildcards.run:q} --workers {threads} > {log:q} 2>&1"
