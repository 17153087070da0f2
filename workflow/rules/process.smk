# coffea processors: ntuples -> histograms and cut-flows (data blinded in the signal box).


rule process:
    input:
        event_inputs,
    output:
        hists=f"{RESULTS}/histograms/{{analysis}}/{{run}}.pkl",
    params:
        config=CONFIG,
        settings=analysis_hash,
    log:
        f"{RESULTS}/logs/process/{{analysis}}/{{run}}.log",
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        ENV
    shell:
        "na64flow process --config {params.config:q} --analysis {wildcards.analysis:q} "
        "--run {wildcards.run:q} --workers {threads} --out {output.hists:q} > {log:q} 2>&1"
