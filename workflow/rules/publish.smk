# Public files (pyhf likelihoods, HEPData) and plots.


rule publish:
    input:
        publish_inputs,
    # every file publish writes is declared, so a failed publish leaves nothing that looks complete
    output:
        likelihoods=[P("likelihood_path", a, f) for a in LIKELIHOOD_TARGETS for f in ("BkgOnly.json", "patchset.json")],
        likelihood_archive=report(
            P("likelihood_archive_path"), caption="../report/likelihoods.rst", category="public files"
        ),
        # the folder is written whole into place (publish.write_hepdata renames it from a temporary one);
        # not a directory() output, whose timestamp file would break hepdata-validator on the folder
        hepdata=P("hepdata_submission_path"),
        hepdata_archive=report(P("hepdata_archive_path"), caption="../report/hepdata.rst", category="public files"),
        comparison=[P("published_comparison_path")] if config.get("publish", {}).get("reference_limits") else [],
    params:
        config=CONFIG,
        code=CODE_ALL,   # the package's sources and libraries: changed code re-runs the step
        settings=PUBLISH_SETTINGS,
    log:
        P("log_path", "publish"),
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow publish --config {params.config:q} > {log:q} 2>&1"


PLOT_CATEGORIES = ANALYSES + [registry.COMBINED]

# One job per plot category (na64flow.plotting.categories), each as soon as its inputs exist, so the
# plots do not wait for every limit and run in parallel; `plot` joins them (hard links) for the report.
for _cat in PLOT_CATEGORIES:

    rule:
        name:
            f"plot_{_cat}"
        input:
            plot_inputs(_cat),
        output:
            plots=directory(P("plot_part_dir", _cat)),
        params:
            config=CONFIG,
            code=CODE_ALL,   # the package's sources and libraries: changed code re-runs the step
            settings=PUBLISH_SETTINGS,
            category=_cat,
        log:
            P("log_path", "plot", _cat),
        conda:
            ENV
        shell:
            "\"$NA64FLOW_PYTHON\" -m na64flow plot --config {params.config:q} --category {params.category:q} --out-dir {output.plots:q} "
            "> {log:q} 2>&1"


rule plot:
    input:
        [P("plot_part_dir", c) for c in PLOT_CATEGORIES],
    output:
        plots=report(
            directory(P("figures_dir")),
            patterns=["{category}-{name}.png"],
            caption="../report/plots.rst",
            category="{category}",
            subcategory="plots",
        ),
    params:
        config=CONFIG,
        code=CODE_ALL,   # the package's sources and libraries: changed code re-runs the step
    log:
        P("log_path", "plot"),
    conda:
        ENV
    shell:
        "\"$NA64FLOW_PYTHON\" -m na64flow plot --config {params.config:q} --gather {input:q} --out-dir {output.plots:q} > {log:q} 2>&1"


# Only with an accepted unblinding request, as the `unblind` rule (stats.smk).
if UNBLIND:

    # Observed HEPData and plots, from the products of `unblind` only (results/<tag>/unblinded/).
    rule publish_observed:
        input:
            P("unblind_audit_path"),
        output:
            hepdata=PO("hepdata_submission_path"),
            hepdata_archive=PO("hepdata_archive_path"),
            # the observed likelihoods of `unblind` packed and linked from the observed submission
            likelihood_archive=PO("likelihood_archive_path"),
            comparison=[PO("published_comparison_path")] if config.get("publish", {}).get("reference_limits") else [],
        params:
            config=CONFIG,
            code=CODE_ALL,   # the package's sources and libraries: changed code re-runs the step
            settings=PUBLISH_SETTINGS,
        log:
            PO("log_path", "publish"),
        conda:
            ENV
        shell:
            "\"$NA64FLOW_PYTHON\" -m na64flow publish --config {params.config:q} --observed > {log:q} 2>&1"


    # The observed plots as the blinded ones: one job per category (in parallel), `plot_observed` joins them.
    for _cat in PLOT_CATEGORIES:

        rule:
            name:
                f"plot_observed_{_cat}"
            input:
                P("unblind_audit_path"),
            output:
                plots=directory(PO("plot_part_dir", _cat)),
            params:
                config=CONFIG,
                code=CODE_ALL,   # the package's sources and libraries: changed code re-runs the step
                settings=PUBLISH_SETTINGS,
                category=_cat,
            log:
                PO("log_path", "plot", _cat),
            conda:
                ENV
            shell:
                "\"$NA64FLOW_PYTHON\" -m na64flow plot --config {params.config:q} --observed --category {params.category:q} "
                "--out-dir {output.plots:q} > {log:q} 2>&1"


    rule plot_observed:
        input:
            [PO("plot_part_dir", c) for c in PLOT_CATEGORIES],
        output:
            plots=directory(PO("figures_dir")),
        params:
            config=CONFIG,
            code=CODE_ALL,   # the package's sources and libraries: changed code re-runs the step
            settings=PUBLISH_SETTINGS,
        log:
            PO("log_path", "plot"),
        conda:
            ENV
        shell:
            "\"$NA64FLOW_PYTHON\" -m na64flow plot --config {params.config:q} --observed --gather {input:q} --out-dir {output.plots:q} "
            "> {log:q} 2>&1"
