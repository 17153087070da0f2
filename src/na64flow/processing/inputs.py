"""Inputs of one analysis run: its file list per sample and the up-front check of every file.

:func:`fileset_of` reads the simulation manifest or ``input.ntuples.<A>.<R>`` (lists, globs or file
lists: :func:`expand_file_list`); :func:`check_inputs` opens every file before any event is read
(tree, schema branches, weight branch, truncation), raising NA64Error naming the file and branch.
"""

from __future__ import annotations

import glob as globmod
import os
from pathlib import Path

import numpy as np

from .. import NA64Error, contracts
from ..config import run_config, section
from ..events import TRUTH, branch_names, check_tree, open_tree
from ..paths import manifest_path
from ..samples import is_data


def fileset_of(cfg: dict, analysis: str, run: str) -> tuple[dict[str, list[str]], float]:
    """{sample: [absolute file paths]} and n_ot of a run, from the manifest or ``input.ntuples``."""
    inp = section(cfg, "input")
    rcfg = run_config(cfg, analysis, run)
    if inp.get("source", "simulation") == "ntuples":
        nt = inp.get("ntuples", {})
        try:
            block = nt[analysis][str(run)]
        except (KeyError, TypeError):
            raise NA64Error(f"{cfg.get('_path', 'config')}: input.source is 'ntuples' but "
                            f"input.ntuples.{analysis}.{run} is not set ({{data: [files], mc: {{process: [files]}}}})") from None
        key = f"input.ntuples.{analysis}.{run}"
        files: dict[str, list[str]] = {}
        if "data" in block:
            files["data"] = expand_file_list(block["data"], f"{key}.data")
        for proc, lst in (block.get("mc") or {}).items():
            files[f"mc_{proc}"] = expand_file_list(lst, f"{key}.mc.{proc}")
        for sample, lst in (block.get("signal") or {}).items():
            files[sample] = expand_file_list(lst, f"{key}.signal.{sample}")
        if not files:
            raise NA64Error(f"{key}: no files listed")
        return files, float(rcfg["n_ot"])
    mpath = manifest_path(cfg, analysis, run)
    manifest = contracts.read_manifest(mpath)
    n_ot = manifest.n_ot if manifest.n_ot is not None else float(rcfg["n_ot"])
    return manifest.files(Path(mpath).parent), n_ot


def declared_events(cfg: dict, analysis: str, run: str) -> tuple[dict[str, int] | None, str]:
    """({sample: n_events} the simulation manifest declares, its path); (None, "") for real ntuples."""
    if section(cfg, "input").get("source", "simulation") == "ntuples":
        return None, ""
    mpath = manifest_path(cfg, analysis, run)
    manifest = contracts.read_manifest(mpath)
    return {s: int(info["n_events"]) for s, info in manifest.samples.items() if "n_events" in info}, f"{mpath} (manifest)"


def expand_file_list(spec, key: str) -> list[str]:
    """Absolute file paths from a configuration entry: a list of paths or glob patterns, or one string
    naming a text file list (one path per line, '#' comments, relative to the list's folder) or a glob.

    NA64Error naming the key when a file list is missing or a pattern matches nothing.
    """
    if isinstance(spec, str):
        if any(c in spec for c in "*?["):
            spec = [spec]
        else:
            lst = Path(spec)
            if not lst.is_file():
                raise NA64Error(f"{spec}: file list not found (configuration key {key})")
            lines = [ln.split("#", 1)[0].strip() for ln in lst.read_text().splitlines()]
            spec = [str(lst.parent / ln) if not Path(ln).is_absolute() else ln for ln in lines if ln]
    if not isinstance(spec, list | tuple):
        raise NA64Error(f"{key}: expected a list of files, a glob or a file-list path, got {type(spec).__name__}")
    out: list[str] = []
    for item in spec:
        item = str(item)
        if any(c in item for c in "*?["):
            matches = sorted(globmod.glob(item))
            if not matches:
                raise NA64Error(f"{item}: no file matches this pattern (configuration key {key})")
            out += matches
        else:
            out.append(item)
    resolved = [str(Path(f).resolve()) for f in out]
    twice = sorted({f for f in resolved if resolved.count(f) > 1})
    if twice:
        raise NA64Error(f"{key}: {', '.join(twice)} listed more than once (directly or through a pattern); "
                        "each file is read once, so list it once")
    return resolved


def check_inputs(fileset: dict[str, list[str]], setup: str, tree_name: str, branch_map: dict[str, str],
                 allow_empty_data: bool = False, declared: dict[str, int] | None = None,
                 declared_by: str = "the manifest") -> None:
    """Open every file up front: readable, tree present, schema branches present, not truncated.

    Simulated/MC samples must also carry the ``weight`` branch, with finite values, and hold events (in
    at least one of their files). A data
    file without events is an error unless ``allow_empty_data`` (``analyses.<a>.runs.<r>.allow_empty_data``).
    ``declared`` ({sample: n_events}, the simulation manifest's): the files of each sample must hold exactly
    that many events (a file list that lost a chunk, or a manifest that lies, is refused). Raises NA64Error
    naming the file (and branch). Truncation is detected by checking every basket of every schema branch
    lies inside the file.
    """
    for sample, files in fileset.items():
        if not files:
            raise NA64Error(f"sample '{sample}': empty file list")
        n_sample = 0
        trees = {}
        for path in files:
            if Path(path).exists() and os.path.getsize(path) == 0:
                raise NA64Error(f"{path}: empty file (0 bytes)")
            tree = trees[path] = open_tree(path, tree_name)
            check_tree(tree, setup, path, branch_map, read_probe=False)   # no basket decompressed
            if is_data(sample) and tree.num_entries == 0 and not allow_empty_data:
                raise NA64Error(f"{path}: tree '{tree_name}' holds no events (data sample '{sample}'); "
                                "remove the file from the input list, or set "
                                "analyses.<analysis>.runs.<run>.allow_empty_data: true if that is expected")
            n_sample += tree.num_entries
            if not is_data(sample):
                wname = branch_map.get("weight", "weight")
                if wname not in tree.keys():
                    raise NA64Error(f"{path}: branch '{wname}' (event weight) missing in simulated sample '{sample}'")
            size = os.path.getsize(path)
            for name in branch_names(setup) + ([b.name for b in TRUTH if b.name == "weight"] if not is_data(sample) else []):
                br = tree[branch_map.get(name, name)]
                if not hasattr(br, "num_baskets"):   # RNTuple field: no TBasket table to check
                    continue
                nb = br.num_baskets
                seeks = np.asarray(br.member("fBasketSeek"))[:nb]
                nbytes = np.asarray(br.member("fBasketBytes"))[:nb]
                if np.any(seeks + nbytes > size):
                    raise NA64Error(f"{path}: branch '{br.name}' points beyond the end of the file "
                                    f"({size} bytes): the file is truncated")
            if not is_data(sample):          # after the truncation check: the weights are read
                weights = tree[wname].array(library="np")
                bad = int(np.count_nonzero(~np.isfinite(weights)))
                if bad:
                    raise NA64Error(f"{path}: branch '{wname}' (event weight) has {bad} non-finite value(s) "
                                    f"(NaN/inf) in simulated sample '{sample}'")
        if not is_data(sample) and n_sample == 0:
            raise NA64Error(f"{', '.join(files)}: simulated sample '{sample}' holds no events in any of its "
                            f"{len(files)} file(s) (tree '{tree_name}'): it would estimate its process as 0; "
                            "remove the sample or give its files")
        if is_data(sample):
            check_unique_events(files, tree_name, branch_map, sample, trees)
        if declared is not None and sample in declared and int(declared[sample]) != n_sample:
            raise NA64Error(f"{declared_by}: sample '{sample}' declares n_events = {int(declared[sample])}, its "
                            f"{len(files)} file(s) hold {n_sample}: a file is missing from its list or the "
                            "manifest is stale; re-run `simulate`")


def _event_keys(path: str, tree_name: str, branch_map: dict[str, str], tree=None) -> tuple[np.ndarray, np.ndarray]:
    """(run_number, event_number) of every entry of one file (``tree``: the file's tree, already open),
    sorted by run then event."""
    names = [branch_map.get(b, b) for b in ("run_number", "event_number")]
    # array_cache=None: these baskets are read once; uproot's shared cache would keep them after the check
    cols = (tree if tree is not None else open_tree(path, tree_name)).arrays(names, library="np", array_cache=None)
    run, event = (np.asarray(cols[n]).astype(np.int64) for n in names)
    if len(run) < 2 or (np.all(run[1:] == run[:-1]) and np.all(event[1:] > event[:-1])):
        return run, event          # one run, events in order (what a DAQ file holds): sorted already
    order = np.lexsort((event, run))
    return run[order], event[order]


def _repeated(run: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Indices (into the sorted keys) of entries equal to their predecessor."""
    return np.flatnonzero((run[1:] == run[:-1]) & (event[1:] == event[:-1])) + 1


def check_unique_events(files: list[str], tree_name: str, branch_map: dict[str, str], sample: str = "data",
                        trees: dict | None = None) -> None:
    """Refuse data that hold one event twice: ``event_number`` is unique within a run (docs/event-schema.md),
    so a (run_number, event_number) pair seen twice, in one file or in two (a copy under another name, a
    re-processed file next to its original), would count the event twice in every row, region and bin.

    Reads the two branches of one file at a time (memory bounded by the largest file): within a file the
    sorted pairs are compared; across files, two files whose (run, event) ranges overlap are compared
    exactly (DAQ files of a run hold consecutive events, so this is rare; files whose events interleave are
    compared pair by pair, reads quadratic in their number). NA64Error naming the file(s), the number of
    repeated pairs and the first of them.
    """
    spans: list[tuple[str, dict[int, tuple[int, int]]]] = []   # per file: {run: (first, last event)}
    for path in files:
        run, event = _event_keys(path, tree_name, branch_map, (trees or {}).get(path))
        rep = _repeated(run, event)
        if len(rep):
            raise NA64Error(f"{path}: {len(rep)} event(s) of data sample '{sample}' appear more than once "
                            f"(run_number {run[rep[0]]}, event_number {event[rep[0]]} first): event_number is "
                            "unique within a run; remove the duplicates")
        if not len(run):
            continue
        starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
        ends = np.r_[starts[1:], len(run)] - 1
        mine = {int(run[a]): (int(event[a]), int(event[b])) for a, b in zip(starts, ends)}
        for other, theirs in spans:
            if any(r in theirs and mine[r][0] <= theirs[r][1] and theirs[r][0] <= mine[r][1] for r in mine):
                o_run, o_event = _event_keys(other, tree_name, branch_map)
                both_run = np.concatenate([run, o_run])
                both_event = np.concatenate([event, o_event])
                order = np.lexsort((both_event, both_run))
                rep = _repeated(both_run[order], both_event[order])
                if len(rep):
                    i = order[rep[0]]
                    raise NA64Error(f"{other} and {path}: {len(rep)} event(s) of data sample '{sample}' are in "
                                    f"both files (run_number {both_run[i]}, event_number {both_event[i]} "
                                    "first): the same events listed twice (a copy, or a re-processed file next "
                                    "to its original); keep one of them")
        spans.append((path, mine))
