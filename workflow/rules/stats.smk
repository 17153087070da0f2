# Statistics: blinded expected limits, freeze, explicit unblinding.


rule limits:
    input:
        limit_inputs,
    output:
        limits=report(
            f"{RESULTS}/limits/{{analysis}}/{{model}}.csv",
            caption="../report/limits.rst",
            category="{analysis}",
            subcategory="limits",
        ),
    params:
        config=CONFIG,
        settings=section_hash("stats", "analyses"),
    log:
        f"{RESULTS}/logs/limits/{{analysis}}/{{model}}.log",
    threads: 1
    conda:
        ENV
    shell:
        "na64flow limits --config {params.config:q} --analysis {wildcards.analysis:q} "
        "--model {wildcards.model:q} > {log:q} 2>&1"


# unblind fills the `obs` column of the limit files: ancient() keeps that from re-triggering freeze
rule freeze:
    input:
        ancient(limit_files()),
    output:
        f"{RESULTS}/freeze.json",
    params:
        config=CONFIG,
    log:
        f"{RESULTS}/logs/freeze.log",
    conda:
        ENV
    shell:
        "na64flow freeze --config {params.config:q} > {log:q} 2>&1"


rule unblind:
    input:
        freeze=f"{RESULTS}/freeze.json",
        limits=ancient(limit_files()),
    output:
        f"{RESULTS}/unblinded/audit.json",
    params:
        config=CONFIG,
    log:
        f"{RESULTS}/logs/unblind.log",
    conda:
        ENV
    shell:
        "na64flow unblind --config {params.config:q} > {log:q} 2>&1"
