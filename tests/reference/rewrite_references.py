"""Rewrite the reference cut-flows of tests/test_cutflow_reference.py ON PURPOSE (AGC regression pattern).

    python tests/reference/rewrite_references.py

Processes the seeded toy runs of tests/reference/toy_events.py for every analysis run of
configs/default.yaml (iterative executor, unblinded, fixed chunk size) and writes
tests/reference/<analysis>_<run>.json (the `python -m na64flow.histograms --dump-json` summary). Run it
only after a deliberate change of a selection, of the toy events or of the histogram format, and
commit the diff together with that change (review the changed numbers!).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
N_EVENTS = 4000
SEED = 1234

_spec = importlib.util.spec_from_file_location("toy_events", HERE / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)


def reference_runs(cfg: dict) -> list[tuple[str, str]]:
    return [(a, r) for a, acfg in cfg["analyses"].items() for r in acfg["runs"]]


def compute(tmp: Path) -> dict[str, dict]:
    """{"<analysis>_<run>": JSON dump} of the toy runs processed with the current code."""
    from na64flow import histograms as H
    from na64flow.processing import run_processing

    _, cfg = toy.make_config(tmp, REPO)
    out = {}
    for a, r in reference_runs(cfg):
        toy.write_run(cfg, a, r, N_EVENTS, SEED)
        content = run_processing(cfg, a, r, executor="iterative", status=False, blind=False)
        out[f"{a}_{r}"] = json.loads(json.dumps(H.to_json(content), sort_keys=True))
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        refs = compute(Path(tmp))
    for name, dump in refs.items():
        (HERE / f"{name}.json").write_text(json.dumps(dump, indent=1, sort_keys=True) + "\n")
        print(f"wrote tests/reference/{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
