"""The event-level files: the simulation manifest (simulate -> process) and the histogram file
(process -> cutflow, background, normalisation, signal, plots).

>>> import tempfile
>>> from pathlib import Path
>>> p = Path(tempfile.mkdtemp()) / "manifest.json"
>>> write_manifest(p, {"run": "2023", "n_ot": 1e9, "samples": {"data": {"kind": "data", "files": ["data/chunk_0000.root"]}}})
>>> m = read_manifest(p)
>>> m.n_ot, list(m.files(Path("/x")).values())
(1000000000.0, [['/x/data/chunk_0000.root']])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import NA64Error
from ..paths import atomic_output, require_file
from ._json import _json


@dataclass
class Manifest:
    """``ntuples/<a>/<r>/manifest.json``: the samples of a simulated run (file paths relative to it).

    ``data`` is the record as written (key order kept): ``samples`` (per sample ``kind``, ``files``,
    ``n_events``, ...), ``n_ot`` and the run facts (schema_version, analysis, run, setup, beam, seed).
    """

    data: dict

    @property
    def samples(self) -> dict[str, dict]:
        return self.data["samples"]

    @property
    def n_ot(self) -> float | None:
        return None if self.data.get("n_ot") is None else float(self.data["n_ot"])

    def files(self, base: Path) -> dict[str, list[str]]:
        """{sample: [absolute file paths]} (paths in the manifest are relative to ``base``)."""
        return {s: [str((Path(base) / f).resolve()) for f in info["files"]] for s, info in self.samples.items()}


def _check_manifest(data: Mapping, where) -> dict:
    samples = data.get("samples")
    if not isinstance(samples, dict):
        raise NA64Error(f"{where}: not a valid manifest (no 'samples' object)")
    for name, info in samples.items():
        if not isinstance(info, dict) or "files" not in info:
            raise NA64Error(f"{where}: sample '{name}' has no 'files' list")
    return dict(data)


def read_manifest(path: str | Path) -> Manifest:
    path = require_file(path, "manifest.json of the simulated ntuples", "simulate")
    return Manifest(_check_manifest(_json(path), path))


def write_manifest(path: str | Path, manifest: Manifest | Mapping) -> None:
    """JSON (indent 1, newline at the end) in the key order of the record."""
    obj = _check_manifest(manifest.data if isinstance(manifest, Manifest) else manifest, path)
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
