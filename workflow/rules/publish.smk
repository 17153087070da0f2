# Public files (pyhf likelihoods, HEPData) and plots.


rule publish:
    input:
        publish_inputs,
    output:
        likelihoods=[f"{RESULTS}/likelihoods/{a}/{f}" for a in ANALYSES for f in ("BkgOnly.json", "patchset.json")],
        hepdata=f"{RESULTS}/hepdata/submission.yaml",
    params:
        config=CONFIG,
    log:
        f"{RESULTS}/logs/publish.log",
    conda:
        ENV
    shell:
        "na64flow publish --config {params.config} > {log} 2>&1"


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
        "na64flow plot --config {params.config} --out-dir {output.plots} > {log} 2>&1"


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
        "na64flow publish --config {params.config} --observed > {log} 2>&1"


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
        "na64flow plot --config {params.config} --observed --out-dir {output.plots} > {log} 2>&1"
