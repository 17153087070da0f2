# Public files (pyhf likelihoods, HEPData) and plots.


rule publish:
    input:
        publish_inputs,
    # every file publish writes is declared, so a failed publish leaves nothing that looks complete
    output:
        likelihoods=[f"{RESULTS}/likelihoods/{a}/{f}" for a in LIKELIHOOD_TARGETS for f in ("BkgOnly.json", "patchset.json")],
        likelihood_archive=report(
            f"{RESULTS}/likelihoods.tar.gz", caption="../report/likelihoods.rst", category="public files"
        ),
        # the folder is written whole into place (publish.write_hepdata renames it from a temporary one);
        # not a directory() output, whose timestamp file would break hepdata-validator on the folder
        hepdata=f"{RESULTS}/hepdata/submission.yaml",
        hepdata_archive=report(
            f"{RESULTS}/hepdata.tar.gz", caption="../report/hepdata.rst", category="public files"
        ),
        comparison=[f"{RESULTS}/published_comparison.md"] if config.get("publish", {}).get("reference_limits") else [],
    params:
        config=CONFIG,
    log:
        f"{RESULTS}/logs/publish.log",
    conda:
        ENV
    shell:
        "na64flow publish --config {params.config:q} > {log:q} 2>&1"


rule plot:
    input:
        publish_inputs,
        [] if SOURCE == "published" else histograms(),
    output:
        plots=report(
            directory(f"{RESULTS}/plots/figures"),
            patterns=["{category}-{name}.png"],
            caption="../report/plots.rst",
            category="{category}",
            subcategory="plots",
        ),
    params:
        config=CONFIG,
    log:
        f"{RESULTS}/logs/plot.log",
    conda:
        ENV
    shell:
        "na64flow plot --config {params.config:q} --out-dir {output.plots:q} > {log:q} 2>&1"


# Observed HEPData and plots, from the products of `unblind` only (results/<tag>/unblinded/).
rule publish_observed:
    input:
        f"{RESULTS}/unblinded/audit.json",
    output:
        hepdata=f"{RESULTS}/unblinded/hepdata/submission.yaml",
    params:
        config=CONFIG,
    log:
        f"{RESULTS}/unblinded/logs/publish.log",
    conda:
        ENV
    shell:
        "na64flow publish --config {params.config:q} --observed > {log:q} 2>&1"


rule plot_observed:
    input:
        f"{RESULTS}/unblinded/audit.json",
    output:
        plots=directory(f"{RESULTS}/unblinded/plots/figures"),
    params:
        config=CONFIG,
    log:
        f"{RESULTS}/unblinded/logs/plot.log",
    conda:
        ENV
    shell:
        "na64flow plot --config {params.config:q} --observed --out-dir {output.plots:q} > {log:q} 2>&1"
