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


def normalisation_path(cfg: dict, analysis: str, run: str) -> Path:
    return results_dir(cfg) / "normalisation" / analysis / f"{run}.json"


def limits_path(cfg: dict, analysis: str, model: str) -> Path:
    return results_dir(cfg) / "limits" / analysis / f"{model}.csv"


def likelihood_dir(cfg: dict, analysis: str) -> Path:
    return results_dir(cfg) / "likelihoods" / analysis


def hepdata_dir(cfg: dict) -> Path:
    return results_dir(cfg) / "hepdata"


def plots_dir(cfg: dict) -> Path:
    return results_dir(cfg) / "plots"


def cache_dir(cfg: dict) -> Path:
    return results_dir(cfg) / "cache"


def freeze_path(cfg: dict) -> Path:
    return results_dir(cfg) / "freeze.json"


def logs_dir(cfg: dict) -> Path:
    return results_dir(cfg) / "logs"


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


@contextmanager
def atomic_output(path: str | Path, mode: str = "w"):
    """Write to a temporary sibling and rename onto ``path`` only on success.

    An interrupted step therefore never leaves a half-written file that a later step would take as
    complete. Yields the temporary path (str) when ``mode`` is None, else an open file object.
    """
    path = Path(path)
    ensure_writable(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
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


def require_file(path: str | Path, what: str, made_by: str) -> Path:
    """NA64Error naming the missing input and the step that makes it."""
    path = Path(path)
    if not path.exists():
        raise NA64Error(f"{path}: {what} not found (made by `na64flow {made_by}`)")
    return path
