"""The files passing between the steps (docs/contracts.md): one typed reader and one writer per file kind.

Every step and every test reads and writes these files only through this package. Each file kind is a
small dataclass with ``read_<kind>(path)`` (NA64Error naming the file, the key or the column for bad
input) and ``write_<kind>(path, obj)`` (atomic, byte-stable formatting): :mod:`.events` (manifest,
histogram file), :mod:`.tables` (cut-flow, signal and limit CSVs), :mod:`.records` (background,
normalisation and observed-count JSON). :data:`FILES` lists them with their place in the results
layout; ``tests/test_contracts.py`` checks docs/contracts.md against it.

>>> [k.name for k in FILES][:3]
['manifest', 'histograms', 'cutflow']
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .events import Manifest, read_histograms, read_manifest, write_histograms, write_manifest
from .records import (
    BackgroundEstimate,
    Normalisation,
    ObservedCount,
    read_background,
    read_normalisation,
    read_observed,
    write_background,
    write_normalisation,
    write_observed,
)
from .tables import (
    CUTFLOW_COLUMNS,
    LIMIT_COLUMNS,
    SIGNAL_COLUMNS,
    CutFlowTable,
    LimitTable,
    SignalTable,
    format_cell,
    read_cutflow,
    read_limits,
    read_signal,
    write_limits,
    write_signal,
)


@dataclass(frozen=True)
class FileKind:
    name: str
    path: str                  # under results/<tag>/
    record: type | None        # the dataclass (None: a plain dict, see its reader)
    reader: Any
    writer: Any
    columns: tuple[str, ...] = ()


FILES: tuple[FileKind, ...] = (
    FileKind("manifest", "ntuples/<analysis>/<run>/manifest.json", Manifest, read_manifest, write_manifest),
    FileKind("histograms", "histograms/<analysis>/<run>.pkl", None, read_histograms, write_histograms),
    FileKind("cutflow", "cutflows/<analysis>/<run>.csv", CutFlowTable, read_cutflow, None, CUTFLOW_COLUMNS),
    FileKind("signal", "signal/<analysis>/<model>_<run>.csv", SignalTable, read_signal, write_signal, SIGNAL_COLUMNS),
    FileKind("background", "background/<analysis>/<run>.json", BackgroundEstimate, read_background,
             write_background),
    FileKind("normalisation", "normalisation/<analysis>/<run>.json", Normalisation, read_normalisation,
             write_normalisation),
    FileKind("limits", "limits/<analysis>/<model>.csv", LimitTable, read_limits, write_limits,
             ("mass_gev", *LIMIT_COLUMNS)),
    FileKind("limits per run", "limits/<analysis>/<model>_<run>.csv", LimitTable, read_limits, write_limits,
             ("mass_gev", *LIMIT_COLUMNS)),
    FileKind("observed", "unblinded/counts/<analysis>/<run>.json", ObservedCount, read_observed, write_observed),
)


def record_fields(kind: FileKind) -> list[str]:
    """Field names of a file kind's dataclass (what docs/contracts.md must describe)."""
    return [] if kind.record is None else [f.name for f in fields(kind.record) if f.name != "extra"]


__all__ = [
    "CUTFLOW_COLUMNS", "FILES", "LIMIT_COLUMNS", "SIGNAL_COLUMNS", "BackgroundEstimate", "CutFlowTable", "FileKind",
    "LimitTable", "Manifest", "Normalisation", "ObservedCount", "SignalTable", "format_cell", "read_background",
    "read_cutflow", "read_histograms", "read_limits", "read_manifest", "read_normalisation", "read_observed",
    "read_signal", "record_fields", "write_background", "write_histograms", "write_limits", "write_manifest",
    "write_normalisation", "write_observed", "write_signal",
]
