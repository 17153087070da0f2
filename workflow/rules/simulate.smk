# Fast simulation of the NA64 setups (only when input.source is "simulation").


rule simulate:
    input:
        simulation_inputs,
    output:
        manifest=f"{RESULTS}/ntuples/{{analysis}}/{{run}}/manifest.json",
    params:
        config=CONFIG,
        settings=analysis_hash,
    log:
        f"{RESULTS}/logs/simulate/{{analysis}}/{{run}}.log",
    threads: 2
    resources:
        mem_mb=2500,
    conda:
        ENV
    shell:
        "na64flow simulate --config {params.config:q} --analysis {wildcards.analysis:q} "
        "--run {wildcards.run:q} --workers {threads} > {log:q} 2>&1"
