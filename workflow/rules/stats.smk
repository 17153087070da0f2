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


rule freeze:
    input:
        limit_files(),
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


# Unblinding (`--config unblind=true`, checked against the freeze when the workflow is parsed, see
# common.smk). No file inputs: nothing upstream (freeze, limits, process, ...) can be scheduled by it; it
# reads exactly the frozen files, which `na64flow unblind` hashes again before reading the box. Its
# outputs are its own (results/<tag>/unblinded/): no blinded product is rewritten.
rule unblind:
    output:
        audit=f"{RESULTS}/unblinded/audit.json",
        products=unblinded_outputs(),
    params:
        config=CONFIG,
    log:
        f"{RESULTS}/unblinded/logs/unblind.log",
    conda:
        ENV
    shell:
        "na64flow unblind --config {params.config:q} --set unblind=true > {log:q} 2>&1"
