"""The derived-rate table of docs/simulation.md: ``python -m na64flow.simulation.ratetable [config]``.

For every analysis/run of a configuration: each process's rate per particle on target, P(trigger),
box acceptance (processes calibrated on a published box background), rate_scale and the expected number
of physics-triggered events at the run's exposure; plus the derived dimuon loss probability.
"""

from __future__ import annotations

import sys

from .. import config
from . import run_model


def markdown(cfg: dict) -> str:
    lines = ["| run | process | rate per OT | P(trigger) | A_box | rate_scale | expected triggered |",
             "|---|---|---|---|---|---|---|"]
    for analysis in cfg["analyses"]:
        for run in config.runs_of(cfg, analysis):
            m = run_model.build_model(cfg, analysis, run)
            for name, r in m.rates.items():
                box = "" if r.box_acceptance is None else f"{r.box_acceptance:.3g}"
                lines.append(f"| {analysis} {run} | `{name}` | {r.rate_per_ot:.3g} | {r.p_trigger:.3g} | {box} | "
                             f"{r.scale:g} | {m.n_ot * r.expected_triggered_per_ot:.4g} |")
            if m.setup == "electron":
                lines.append(f"| {analysis} {run} | (dimuon loss probability) | {m.dimuon_loss_prob:.3g} | | | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(config.load_config(sys.argv[1] if len(sys.argv) > 1 else "configs/default.yaml")), end="")
