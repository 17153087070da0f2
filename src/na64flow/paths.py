"""The results layout (design.md "Contracts"): every step finds its inputs and outputs here.

All paths are under ``<results_root>/<tag>/`` so configurations never overwrite each other.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from . import NA64Error


def results_dir(cfg: dict) -> Path:
    """Absolute ``<results_root>/<tag>``: a relative ``results_root`` is resolved once, against the working
    directory of the step's start, so no later directory change (e.g. hepdata_lib's) can move it.
    In an :func:`observed_view` it is ``<results_root>/<tag>/unblinded``."""
    if "_results_dir" in cfg:
        return Path(cfg["_results_dir"])
    return Path(cfg.get("results_root", "results")).absolute() / cfg["tag"]


def observed_view(cfg: dict) -> dict:
    """``cfg`` whose results folder is results/<tag>/unblinded: the observed products of `unblind`
    (limits/, cutflows/, background/, histograms/) are found, and hepdata/ and plots/ are written, there
    (``na64flow publish --observed``, ``na64flow plot --observed``); the blinded products are not touched."""
    return {**cfg, "_results_dir": str(results_dir(cfg) / "unblinded")}


def ntuple_dir(cfg: dict, analysis: str, run: str) -> Path:
    return results_dir(cfg) / "ntuples" / analysis / str(run)


def manifest_path(cfg: dict, analysis: str, run: str) -> Path:
    """JSON written last by `simulate`: {"n_ot", "samples": {sample: {"files": [...], "kind", ...}}}."""
    return ntuple_dir(cfg, analysis, run) / "manifest.json"


def histograms_path(cfg: dict, analysis: str, run: str) -> Path:
    return results_dir(cfg) / "histograms" / analysis / f"{run}.pkl"


def cutflow_path(cfg: dict, analysis: str, run: str, ext: str) -> Path:
    return results_dir(cfg) / "cutflows" / analysis / f"{run}.{ext}"


def signal_path(cfg: dict, analysis: str, model: str, run: str) -> Path:
    return results_dir(cfg) / "signal" / analysis / f"{model}_{run}.csv"


def background_path(cfg: dict, analysis: str, run: str) -> Path:
    return results_dir(cfg) / "background" / analysis / f"{run}.json"


def background_table_path(cfg: dict, analysis: str, run: str, ext: str) -> Path:
    """The Markdown/LaTeX renderings next to the background file (ext md or tex)."""
    return background_path(cfg, analysis, run).with_suffix(f".{ext}")


def normalisation_path(cfg: dict, analysis: str, run: str) -> Path:
    return results_dir(cfg) / "normalisation" / analysis / f"{run}.json"


def closure_path(cfg: dict, analysis: str, ext: str) -> Path:
    return results_dir(cfg) / "closure" / f"{analysis}.{ext}"


def closure_plot_path(cfg: dict, analysis: str, ext: str) -> Path:
    return plots_dir(cfg) / f"closure_{analysis}.{ext}"


def limits_path(cfg: dict, analysis: str, model: str) -> Path:
    return results_dir(cfg) / "limits" / analysis / f"{model}.csv"


def asymptotic_limits_path(cfg: dict, analysis: str, model: str) -> Path:
    """The asymptotic (pyhf) cross-check of a toy-based limit table, at a subset of its masses."""
    return results_dir(cfg) / "limits" / analysis / f"{model}_asymptotic.csv"


def limits_comparison_path(cfg: dict, analysis: str, model: str) -> Path:
    """Markdown comparison of the toy and asymptotic limits of a model."""
    return results_dir(cfg) / "limits" / analysis / f"{model}_comparison.md"


def run_limits_path(cfg: dict, analysis: str, model: str, run: str) -> Path:
    """The limit table of one run of an analysis alone (same columns as :func:`limits_path`)."""
    return results_dir(cfg) / "limits" / analysis / f"{model}_{run}.csv"


def likelihood_dir(cfg: dict, analysis: str) -> Path:
    return results_dir(cfg) / "likelihoods" / analysis


def likelihood_path(cfg: dict, analysis: str, name: str) -> Path:
    """likelihoods/<analysis>/<name> (BkgOnly.json, patchset.json)."""
    return likelihood_dir(cfg, analysis) / name


def hepdata_dir(cfg: dict) -> Path:
    return results_dir(cfg) / "hepdata"


def hepdata_submission_path(cfg: dict) -> Path:
    return hepdata_dir(cfg) / "submission.yaml"


def hepdata_archive_path(cfg: dict) -> Path:
    """The HEPData archive to upload (hepdata_lib's submission.tar.gz)."""
    return results_dir(cfg) / "hepdata.tar.gz"


def likelihood_archive_path(cfg: dict) -> Path:
    return results_dir(cfg) / "likelihoods.tar.gz"


def published_comparison_path(cfg: dict) -> Path:
    return results_dir(cfg) / "published_comparison.md"


def plots_dir(cfg: dict) -> Path:
    return results_dir(cfg) / "plots"


def figures_dir(cfg: dict) -> Path:
    """The plots of the `plot` step (the Snakemake report's folder)."""
    return plots_dir(cfg) / "figures"


def plot_part_dir(cfg: dict, category: str) -> Path:
    """The plots of one category (an analysis or combined), one `plot_<category>` job each; `plot`
    joins them into :func:`figures_dir`."""
    return plots_dir(cfg) / "parts" / category


def cache_dir(cfg: dict) -> Path:
    return results_dir(cfg) / "cache"


def tracklength_path(cfg: dict, beam: str, energy_gev: float | str) -> Path:
    """Cached cascade track-length table of one beam and energy (a str is taken as written)."""
    energy = energy_gev if isinstance(energy_gev, str) else f"{energy_gev:g}"
    return cache_dir(cfg) / f"tracklength_{beam}_{energy}.npz"


def freeze_path(cfg: dict) -> Path:
    return results_dir(cfg) / "freeze.json"


def unblinded_dir(cfg: dict) -> Path:
    return results_dir(cfg) / "unblinded"


def unblinded_path(cfg: dict, analysis: str, run: str) -> Path:
    """Observed box count of one run, written by `na64flow unblind` after the freeze check."""
    return unblinded_dir(cfg) / "counts" / analysis / f"{run}.json"


def unblind_audit_path(cfg: dict) -> Path:
    return unblinded_dir(cfg) / "audit.json"


def effective_config_path(cfg: dict) -> Path:
    """The validated configuration handed to every step by the Snakemake rules."""
    return results_dir(cfg) / "config.yaml"


def logs_dir(cfg: dict) -> Path:
    return results_dir(cfg) / "logs"


def log_path(cfg: dict, step: str, *names: str) -> Path:
    """logs/<step>/<name>/.../<last>.log of one job (logs/<step>.log without names)."""
    if not names:
        return logs_dir(cfg) / f"{step}.log"
    *folders, last = names
    return logs_dir(cfg).joinpath(step, *folders, f"{last}.log")


def ensure_writable(directory: Path) -> Path:
    """Create ``directory`` (and parents); NA64Error naming it if that or writing there fails."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as exc:
        raise NA64Error(f"output directory {directory} is not writable: {exc.strerror or exc}") from exc
    return directory


def check_output_path(path: str | Path) -> Path:
    """``path`` as an output file: NA64Error when it is an existing folder or its folder is not writable
    (steps call it before their work, so a mistyped --out fails at once, not after the processing)."""
    path = Path(path)
    if path.is_dir():
        raise NA64Error(f"{path}: is a folder; the output must be a file path")
    ensure_writable(path.parent)
    return path


@contextmanager
def atomic_output(path: str | Path, mode: str = "w", same_name: bool = False):
    """Write to a temporary sibling and rename onto ``path`` only on success.

    An interrupted step therefore never leaves a half-written file that a later step would take as
    complete. Yields the temporary path (str) when ``mode`` is None, else an open file object.
    ``same_name``: the temporary file has ``path``'s own name, in a hidden sibling folder (for formats
    that record their file name, as ROOT does, so that the bytes do not depend on a random name).
    """
    path = Path(path)
    check_output_path(path)
    tmpdir = None
    if same_name:
        tmpdir = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        tmp = os.path.join(tmpdir, path.name)
        open(tmp, "wb").close()
    else:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)      # mkstemp makes 0600: outputs get the modes the user's umask gives
    try:
        if mode is None:
            yield tmp
        else:
            with open(tmp, mode) as fh:
                yield fh
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        if tmpdir is not None and os.path.isdir(tmpdir):
            os.rmdir(tmpdir)


def changed_after(path: str | Path, t_ns: int) -> bool:
    """Whether ``path`` was written or replaced after ``t_ns`` (ns since 1970): its modification time or
    its status-change time is later. A copy that keeps an older modification time (``cp -p``,
    ``rsync -a``, ``tar x``) still gets a new status-change time, which no user call can set back."""
    st = os.stat(path)
    return max(st.st_mtime_ns, st.st_ctime_ns) > t_ns


def source_date_epoch(default: int) -> int:
    """The fixed time stamped into the public archives: ``SOURCE_DATE_EPOCH`` when set (the
    reproducible-builds convention: whole seconds since 1970 UTC; here 0 to 2^32 - 1, what a gzip header
    holds), else ``default``. NA64Error naming the variable for anything else."""
    text = os.environ.get("SOURCE_DATE_EPOCH")
    if text is None:
        return int(default)
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise NA64Error(f"SOURCE_DATE_EPOCH={text!r}: expected whole seconds since 1970 (0 to {2**32 - 1}), "
                        "or unset it")
    return value


def require_file(path: str | Path, what: str, made_by: str) -> Path:
    """NA64Error naming the missing input and the step that makes it."""
    path = Path(path)
    if not path.exists():
        raise NA64Error(f"{path}: {what} not found (made by `na64flow {made_by}`)")
    return path
