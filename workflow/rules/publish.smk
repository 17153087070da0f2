# Public files (pyhf likelihoods, HEPData) and plots.


rule publish:
    input:
        publish_inputs,
    output:
        likelihoods=likelihood_files(),
        hepdata=P("hepdata_submission_path"),
    params:
        config=CONFIG,
    log:
        P("log_path", "publish"),
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
            directory(P("figures_dir")),
            patterns=["{category}-{name}.png"],
            caption="../report/plots.rst",
            category="{category}",
            subcategory="plots",
        ),
    params:
        config=CONFIG,
    log:
        P("log_path", "plot"),
    conda:
        ENV
    shell:
        "na64flow plot --config {params.config} --out-dir {output.plots} > {log} 2>&1"
