"""Look of every plot: one colour per simulated process (fixed, colour-blind safe), labels, the Plotter.

Colours: the 10-colour sequence of M. Petroff, "Accessible color sequences for data visualization"
(arXiv:2107.02270), chosen for colour-vision-deficiency safety and adopted by CMS/mplhep. Each process
of a setup gets its own colour (PROCESS_COLOR, keyed by the process name of simulation.processes);
data are black, signal samples dashed in SIGNAL_COLORS. A process missing from the map gets an unused
colour of the palette (then grey shades), deterministically by name, so one plot never repeats a colour.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .. import paths, registry
from ..config import runs_of, section

log = logging.getLogger(__name__)
# matplotlib logs every glyph substitution of mathtext at INFO (dozens of lines per limit plot in the
# step's log, hiding ours): only its warnings
logging.getLogger("matplotlib").setLevel(logging.WARNING)

PETROFF10 = ("#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70",
             "#717581", "#92dadd")
# distinct inside each setup (electron: 9 processes with the positron-only annihilation_sm; muon 5; hadron 5)
PROCESS_COLOR = {
    # electron setups
    "em_shower": PETROFF10[0], "hadron_contamination": PETROFF10[1], "hadron_electroproduction": PETROFF10[2],
    "dimuon": PETROFF10[3], "pileup": PETROFF10[4], "upstream_interaction": PETROFF10[5],
    "beamline_decay": PETROFF10[6], "punch_through": PETROFF10[7], "annihilation_sm": PETROFF10[9],
    # muon setup
    "muon_nominal": PETROFF10[0], "muon_brem_hard": PETROFF10[1], "momentum_misreco": PETROFF10[5],
    "k_mu_nu": PETROFF10[6], "non_hermetic": PETROFF10[7],
    # hadron setup
    "pion_shower": PETROFF10[0], "cex_pi0": PETROFF10[1], "cex_eta_visible": PETROFF10[2],
    "cex_etaprime_visible": PETROFF10[4], "hadron_punch_through": PETROFF10[7],
}
DATA_COLOR = "black"
SIGNAL_COLORS = ("#d62728", "#1f3a93", "#2ca02c")   # dashed signal lines (not used for processes)
EXPECTED_COLOR, OBSERVED_COLOR = "black", "#bd1f01"
BAND_1SIGMA, BAND_2SIGMA = "#4daf4a", "#ffdf7f"      # the usual green/yellow Brazil bands
OT_UNIT = {"e-": "EOT", "e+": r"$e^+$OT", "mu-": "MOT", "mu+": "MOT", "pi-": r"$\pi$OT"}


def process_colors(samples: list[str]) -> dict[str, str]:
    """Colour of each sample of one plot: fixed per process, never repeated within the plot."""
    out, used = {}, set()
    for s in samples:
        c = PROCESS_COLOR.get(s.removeprefix("mc_"))
        if c is not None and c not in used:
            out[s] = c
            used.add(c)
    spare = [c for c in PETROFF10 if c not in used] + ["#444444", "#888888", "#bbbbbb", "#d4a6c8", "#6a3d9a"]
    for s in sorted(x for x in samples if x not in out):
        out[s] = spare.pop(0) if spare else "#cccccc"
        log.warning("no fixed colour for sample %s: using %s", s, out[s])
    return out


def process_label(sample: str) -> str:
    return sample.removeprefix("mc_").replace("_", " ")


def exposure_text(cfg: dict, analysis: str, run: str | None = None, model: str | None = None) -> str:
    """E.g. "2.0e+09 EOT, run 2016-2022" or "3.1e+09 EOT (2016-2022, 2023)"; combined: the sum of each
    analysis in ``model``'s combined likelihood (``registry.combined_members``; without ``model``, in any
    combination)."""
    if analysis == registry.COMBINED:
        return "; ".join(exposure_text(cfg, a) for a in registry.combined_analyses(cfg, model))
    acfg = cfg["analyses"][analysis]
    unit = OT_UNIT.get(acfg.get("beam", ""), "OT")
    runs = [run] if run else runs_of(cfg, analysis)
    n = sum(float(acfg["runs"][r]["n_ot"]) for r in runs)
    mant, exp = f"{n:.2e}".split("e")
    num = rf"${float(mant):.2g}\times10^{{{int(exp)}}}$"
    if run:
        return f"{num} {unit}, run {run}"
    return f"{num} {unit} ({', '.join(runs)})"


def _color_of(handle) -> str | None:
    from matplotlib.colors import to_hex

    for getter in ("get_facecolor", "get_color", "get_edgecolor"):
        if hasattr(handle, getter):
            c = getattr(handle, getter)()
            if hasattr(c, "__len__") and len(c) and not isinstance(c, str) and hasattr(c[0], "__len__"):
                c = c[0]
            try:
                if getter == "get_facecolor" and len(c) == 4 and c[3] == 0:   # unfilled patch: its edge
                    continue
                return to_hex(c)
            except (ValueError, TypeError):
                continue
    return None


def inspect_figure(fig) -> dict:
    """What the plot tests check: artists per data axes (colour bars excluded) and legend label -> colour."""
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and getattr(ax, "_colorbar", None) is None]
    artists = [len(ax.lines) + len(ax.collections) + len(ax.patches) + len(ax.images) + len(ax.containers)
               for ax in axes]
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    colors = {}
    for leg in (lg for lg in legends if lg is not None):
        for handle, text in zip(leg.legend_handles, leg.get_texts(), strict=False):
            colors[text.get_text()] = _color_of(handle)
    return {"axes_artists": artists, "legend_colors": colors}


class Plotter:
    """Saves figures in every configured format, labels them with mplhep, records captions."""

    def __init__(self, cfg: dict, out_dir: Path, *, observed: bool = False, limits_dir: Path | None = None):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import mplhep

        self.plt, self.hep = plt, mplhep
        self.cfg = cfg
        pub = section(cfg, "publish")
        self.formats = pub.get("formats", ["pdf", "png"])
        self.dpi = pub.get("dpi", 150)
        self.label = pub.get("experiment_label", "NA64")
        self.text = pub.get("label_text", "Simulation")
        self.out_dir = paths.ensure_writable(out_dir)
        self.observed = observed
        self.limits_dir = Path(limits_dir) if limits_dir else paths.results_dir(cfg) / "limits"
        self.made: list[dict] = []
        self.missing: list[str] = []
        plt.style.use(mplhep.style.ROOT)

    def limits_path(self, analysis: str, model: str) -> Path:
        return self.limits_dir / analysis / f"{model}.csv"

    def figure(self, **kw):
        return self.plt.subplots(figsize=kw.pop("figsize", (8, 6)), **kw)

    def save(self, fig, ax, category: str, name: str, caption: str, rlabel: str = "") -> None:
        """Label (experiment, label text, exposure/run on the right), save every format, record the caption."""
        self.hep.label.exp_label(exp=self.label, llabel=self.text, rlabel=rlabel or self.cfg["tag"], ax=ax,
                                 loc=0, fontsize=16)
        checks = inspect_figure(fig)
        name = name.replace("-", "_")   # "-" only separates category and name ({category}-{name}.png)
        stem = f"{category}-{name}"
        files = []
        for ext in self.formats:
            target = self.out_dir / f"{stem}.{ext}"
            with paths.atomic_output(target, mode=None) as tmp:
                fig.savefig(tmp, format=ext, dpi=self.dpi, bbox_inches="tight")
            files.append(target.name)
        self.plt.close(fig)
        self.made.append({"category": category, "name": name, "files": files, "caption": caption, **checks})
        log.info("plot %s", stem)

    def need(self, path: Path, made_by: str) -> bool:
        if path.exists():
            return True
        self.missing.append(f"{path} (made by `na64flow {made_by}`)")
        return False
