# Background per source (side-band extrapolation and simulation), dimuon normalisation, closure tests.


rule background:
    input:
        [] if SOURCE == "published" else f"{RESULTS}/histograms/{{analysis}}/{{run}}.pkl",
    output:
        json=f"{RESULTS}/background/{{analysis}}/{{run}}.json",
        table=report(
            f"{RESULTS}/background/{{analysis}}/{{run}}.md",
            caption="../report/background.rst",
            category="{analysis}",
            subcategory="background",
        ),
        tex=f"{RESULTS}/background/{{analysis}}/{{run}}.tex",
    params:
        config=CONFIG,
        settings=section_hash("background", "analyses"),
    log:
        f"{RESULTS}/logs/background/{{analysis}}/{{run}}.log",
    conda:
        ENV
    shell:
        "na64flow background --config {params.config:q} --analysis {wildcards.analysis:q} "
        "--run {wildcards.run:q} > {log:q} 2>&1"


rule normalisation:
    input:
        [] if SOURCE == "published" else f"{RESULTS}/histograms/{{analysis}}/{{run}}.pkl",
    output:
        f"{RESULTS}/normalisation/{{analysis}}/{{run}}.json",
    params:
        config=CONFIG,
        settings=section_hash("normalisation", "analyses"),
    log:
        f"{RESULTS}/logs/normalisation/{{analysis}}/{{run}}.log",
    conda:
        ENV
    shell:
        "na64flow normalisation --config {params.config:q} --analysis {wildcards.analysis:q} "
        "--run {wildcards.run:q} > {log:q} 2>&1"


rule closure:
    input:
        lambda w: histograms(w.analysis),
    output:
        table=report(
            f"{RESULTS}/closure/{{analysis}}.md",
            caption="../report/closure.rst",
            category="{analysis}",
            subcategory="background",
        ),
        csv=f"{RESULTS}/closure/{{analysis}}.csv",
        plot=report(
            f"{RESULTS}/plots/closure_{{analysis}}.png",
            caption="../report/closure.rst",
            category="{analysis}",
            subcategory="background",
        ),
        pdf=f"{RESULTS}/plots/closure_{{analysis}}.pdf",
    params:
        config=CONFIG,
        settings=section_hash("background", "analyses"),
    log:
        f"{RESULTS}/logs/closure/{{analysis}}.log",
    conda:
        ENV
    shell:
        "na64flow closure --config {params.config:q} --analysis {wildcards.analysis:q} > {log:q} 2>&1"
