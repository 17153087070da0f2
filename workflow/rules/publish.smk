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
