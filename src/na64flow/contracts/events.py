"""The event-level files: the simulation manifest (simulate -> process) and the histogram file
(process -> cutflow, background, normalisation, signal, plots).

>>> import tempfile
>>> from pathlib import Path
>>> p = Path(tempfile.mkdtemp()) / "manifest.json"
>>> write_manifest(p, Manifest({"data": {"kind": "data", "files": ["data/chunk_0000.root"]}}, 1e9, {"run": "2023"}))
>>> m = read_manifest(p)
>>> m.n_ot, list(m.files(Path("/x")).values())
(1000000000.0, [['/x/data/chunk_0000.root']])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import NA64Error
from ..paths import atomic_output, require_file
from ._json import _json


@dataclass
class Manifest:
    """``ntuples/<a>/<r>/manifest.json``: the samples of a simulated run (file paths relative to it)."""

    samples: dict[str, dict]
    n_ot: float | None = None
    extra: dict = field(default_factory=dict)   # schema_version, analysis, run, setup, beam, seed, ...

    def files(self, base: Path) -> dict[str, list[str]]:
        """{sample: [absolute file paths]} (paths in the manifest are relative to ``base``)."""
        return {s: [str((Path(base) / f).resolve()) for f in info["files"]] for s, info in self.samples.items()}


def read_manifest(path: str | Path) -> Manifest:
    path = require_file(path, "manifest.json of the simulated ntuples", "simulate")
    data = _json(path)
    samples = data.get("samples")
    if not isinstance(samples, dict):
        raise NA64Error(f"{path}: not a valid manifest (no 'samples' object)")
    for name, info in samples.items():
        if not isinstance(info, dict) or "files" not in info:
            raise NA64Error(f"{path}: sample '{name}' has no 'files' list")
    extra = {k: v for k, v in data.items() if k not in ("samples", "n_ot")}
    return Manifest(samples, None if data.get("n_ot") is None else float(data["n_ot"]), extra)


def write_manifest(path: str | Path, manifest: Manifest | Mapping) -> None:
    """JSON (indent 1, newline at the end) in the key order of the simulation writer."""
    if isinstance(manifest, Manifest):
        obj = dict(manifest.extra)
        obj["n_ot"] = manifest.n_ot
        obj["samples"] = manifest.samples
    else:
        obj = dict(manifest)
        if not isinstance(obj.get("samples"), dict):
            raise NA64Error(f"{path}: manifest without a 'samples' object")
    with atomic_output(path) as fh:
        json.dump(obj, fh, indent=1, sort_keys=False)
        fh.write("\n")


# ------------------------------------------------------------------------------------------------
# histogram file (process -> cutflow, background, normalisation, signal, plots)


def read_histograms(path: str | Path) -> dict:
    """The pickled histogram dict of docs/contracts.md (validated by ``na64flow.histograms.check``)."""
    from .. import histograms

    return histograms.load(require_file(path, "histogram file", "process"))


def write_histograms(path: str | Path, content: dict) -> None:
    from .. import histograms

    histograms.save(path, content)
