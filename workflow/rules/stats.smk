# Statistics: blinded expected limits, freeze, explicit unblinding.
# One `limits` job per (analysis, base model) of na64flow.registry: the model's table, its LDM y tables
# (the same solve in other units) and, for an analysis, one table per run.

for (_a, _base), (_tables, _per_run) in limit_jobs().items():

    rule:
        name:
            f"limits_{_a}_{_base}"
        input:
            limit_inputs(_a),
        output:
            tables=[report(t, caption="../report/limits.rst", category=_a, subcategory="limits") for t in _tables],
            per_run=_per_run,
        params:
            config=CONFIG,
            analysis=_a,
            model=_base,
            settings=section_hash("stats", "analyses"),
        log:
            P("log_path", "limits", _a, _base),
        threads: 1
        conda:
            ENV
        shell:
            "na64flow limits --config {params.config} --analysis {params.analysis} "
            "--model {params.model} > {log} 2>&1"


# unblind fills the `obs` column of the limit files: ancient() keeps that from re-triggering freeze
rule freeze:
    input:
        ancient(limit_files()),
    output:
        P("freeze_path"),
    params:
        config=CONFIG,
    log:
        P("log_path", "freeze"),
    conda:
        ENV
    shell:
        "na64flow freeze --config {params.config} > {log} 2>&1"


rule unblind:
    input:
        freeze=P("freeze_path"),
        limits=ancient(limit_files()),
    output:
        P("unblind_audit_path"),
    params:
        config=CONFIG,
    log:
        P("log_path", "unblind"),
    conda:
        ENV
    shell:
        "na64flow unblind --config {params.config} > {log} 2>&1"
