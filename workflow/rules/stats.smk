# Statistics: blinded expected limits, freeze, explicit unblinding.
# One `limits` job per (analysis, base model) of na64flow.registry: the model's table, its LDM y tables
# (the same solve in other units, or their own where the signal depends on alpha_D) and, for an analysis,
# one table per run.

for (_a, _base), (_tables, _per_run) in limit_jobs().items():

    rule:
        name:
            f"limits_{_a}_{_base}"
        input:
            limit_inputs(_a),
        output:
            tables=[report(t, caption="../report/limits.rst", category=_a, subcategory="limits") for t in _tables],
            per_run=_per_run,
            cross_check=limit_cross_checks(_a, _base),
        params:
            config=CONFIG,
            code=CODE,   # the package's sources and libraries: changed code re-runs the step
            analysis=_a,
            model=_base,
            settings=section_hash("stats", "analyses", "seed"),   # the toys are seeded by `seed`
        log:
            P("log_path", "limits", _a, _base),
        threads: 1
        conda:
            ENV
        shell:
            "\"$NA64FLOW_PYTHON\" -m na64flow limits --config {params.config:q} --analysis {params.analysis:q} "
            "--model {params.model:q} > {log:q} 2>&1"


rule freeze:
    input:
        limit_files(),
        run_limit_files(),
    output:
        P("freeze_path"),
    params:
        config=CONFIG,
    log:
        P("log_path", "freeze"),
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow freeze --config {params.config:q} > {log:q} 2>&1"


# Unblinding (`--config unblind=true`, checked against the freeze when the workflow is parsed, see
# common.smk). No file inputs: nothing upstream (freeze, limits, process, ...) can be scheduled by it; it
# reads exactly the frozen files, which `na64flow unblind` hashes again before reading the box. Its
# outputs are its own (results/<tag>/unblinded/): no blinded product is rewritten.
# Defined only when unblinding is requested (and the guard of common.smk accepted it): naming the rule
# as a target without `--config unblind=true` finds no rule, runs nothing and writes nothing.
if UNBLIND:

    rule unblind:
        output:
            audit=P("unblind_audit_path"),
            products=unblinded_outputs(),
        params:
            config=CONFIG,
        log:
            PO("log_path", "unblind"),
        conda:
            ENV
        shell:
            "\"$NA64FLOW_PYTHON\" -m na64flow unblind --config {params.config:q} --set unblind=true > {log:q} 2>&1"
