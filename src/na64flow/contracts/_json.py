"""JSON helpers shared by the record readers and writers (errors name the file)."""

from __future__ import annotations

import json
from pathlib import Path

from .. import NA64Error
from ..paths import atomic_output


def _json(path: Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NA64Error(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise NA64Error(f"{path}: top level is {type(data).__name__}, expected an object")
    return data


def _dump_json(path: Path, obj: dict, indent: int) -> None:
    with atomic_output(path) as fh:
        json.dump(obj, fh, indent=indent)
