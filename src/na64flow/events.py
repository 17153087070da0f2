"""The NA64 event data model: one versioned, documented schema per setup, and reading ntuples into it.

Three setups share a common block of branches:

* ``electron``: e- and e+ beams, missing-energy technique (NA64e, NA64e+), H4 beam line;
* ``muon``: mu beam, missing-momentum technique (NA64mu), M2 beam line, MS1/MS2 spectrometers;
* ``hadron``: pi- beam, full beam-energy disappearance (NA64h).

Real reconstructed ntuples plug in through the configuration: ``input.tree`` names the tree and
``input.branches`` maps a schema name to the branch name in the file. Every branch of the setup must
be present with a compatible type; otherwise :class:`SchemaError` names the file and lists every
missing or mistyped branch at once. Simulated files add the ``truth`` branches; ``weight`` is 1 for the
"data" stream.

``(run_number, event_number)`` identifies a data event: `process` refuses data in which one pair appears
twice, in a file or across the files of a run (``inputs.check_unique_events``, naming the files), since
the event would count twice. The simulation numbers the events of chunk k from k x 2^32
(``generator.first_event_number``), unique however many events a chunk holds.

``docs/event-schema.md`` is generated from this module (``python -m na64flow.events``).
"""

from __future__ import annotations

import datetime
import hashlib
import threading
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np

from . import NA64Error

SCHEMA_VERSION = "1.0"
TREE_NAME = "events"

# trigger bits (uint32)
TRIGGER_PHYSICS = 1 << 0      # physics trigger (missing energy / deflected muon / disappearance)
TRIGGER_CALIBRATION = 1 << 1  # prescaled unbiased beam trigger (normalisation and calibration checks)


@dataclass(frozen=True)
class Branch:
    name: str
    dtype: str      # numpy dtype string
    unit: str
    doc: str


COMMON = (
    Branch("run_number", "int32", "", "run number"),
    Branch("event_number", "int64", "", "event number, unique within a run"),
    Branch("trigger_bits", "uint32", "", "bit 0 physics trigger, bit 1 prescaled calibration trigger"),
    Branch("spill_time_s", "float32", "s", "time of the event within the 4.8 s spill"),
    Branch("beam_momentum_gev", "float32", "GeV", "incoming momentum from the upstream spectrometer (MS1 for muons)"),
    Branch("beam_angle_mrad", "float32", "mrad", "incoming track angle to the beam axis"),
    Branch("n_tracks_up", "int32", "", "number of reconstructed upstream tracks"),
    Branch("srd1_mev", "float32", "MeV", "synchrotron-radiation detector module 1 energy"),
    Branch("srd2_mev", "float32", "MeV", "synchrotron-radiation detector module 2 energy"),
    Branch("srd3_mev", "float32", "MeV", "synchrotron-radiation detector module 3 energy"),
    Branch("ecal_ps_gev", "float32", "GeV", "ECAL pre-shower (first 4 X0) energy"),
    Branch("ecal_gev", "float32", "GeV", "ECAL total energy (pre-shower included)"),
    Branch("ecal_chi2", "float32", "", "shower-shape chi2/ndf of the 5x6 cell pattern vs the e-m template"),
    Branch("ecal_time_ns", "float32", "ns", "ECAL time relative to the trigger"),
    Branch("veto_mip", "float32", "MIP", "VETO counters energy in units of a MIP"),
    Branch("vhcal_gev", "float32", "GeV", "VHCAL energy (0 for runs without VHCAL)"),
    Branch("hcal1_gev", "float32", "GeV", "HCAL module 1 energy"),
    Branch("hcal2_gev", "float32", "GeV", "HCAL module 2 energy"),
    Branch("hcal3_gev", "float32", "GeV", "HCAL module 3 energy"),
    Branch("hcal4_gev", "float32", "GeV", "HCAL module 4 energy"),
    Branch("hcal_time_ns", "float32", "ns", "HCAL time relative to the trigger (energy-weighted)"),
)

MUON_ONLY = (
    Branch("ms2_momentum_gev", "float32", "GeV", "outgoing momentum measured by MS2"),
    Branch("ms2_chi2", "float32", "", "MS2 track-fit chi2/ndf"),
    Branch("max_hits_per_tracker", "int32", "", "largest hit multiplicity over the tracker stations"),
    Branch("hcal_time_spread_ns", "float32", "ns", "largest time difference between fired HCAL modules"),
)

TRUTH = (
    Branch("true_process", "int32", "", "process code (events.PROCESSES)"),
    Branch("true_e_miss_gev", "float32", "GeV", "true energy (momentum for muons) leaving undetected"),
    Branch("true_mediator_e_gev", "float32", "GeV", "energy of the emitted mediator (0 if none)"),
    Branch("weight", "float64", "", "event weight (1 for the data stream; cross-section weight for MC)"),
)

SETUPS: dict[str, tuple[Branch, ...]] = {
    "electron": COMMON,
    "muon": COMMON + MUON_ONLY,
    "hadron": COMMON,
}

# process codes written to `true_process`. Names are the simulated-sample names (mc_<name>).
PROCESSES: dict[str, int] = {
    # electron / positron setup
    "em_shower": 0,              # ordinary e-m shower of the beam electron (bulk, calibration stream)
    "hadron_electroproduction": 1,  # zone II: e A -> hadrons, E_ECAL + E_HCAL ~ E0
    "dimuon": 2,                 # zone I: e Z -> e Z gamma, gamma -> mu mu
    "pileup": 3,                 # zone III: two beam particles in the readout window
    "upstream_interaction": 4,   # interaction upstream, neutrals lost outside the acceptance
    "beamline_decay": 5,         # pi, K, mu -> e nu decays in the beam line (wrong incoming energy)
    "punch_through": 6,          # leading neutral hadron (n, K0L) punching through the HCAL
    "hadron_contamination": 7,   # beam hadrons (pi, K, p) mis-identified as electrons
    "annihilation_sm": 8,        # e+ e- -> hadrons/mu mu from positron annihilation (e+ beam)
    # muon setup
    "muon_nominal": 10,          # ordinary MIP muon through the setup
    "momentum_misreco": 11,      # MS1/MS2 momentum mis-reconstruction tails
    "k_mu_nu": 12,               # K -> mu nu decays in flight
    "non_hermetic": 13,          # energy escaping the calorimeters (holes, cracks)
    "muon_brem_hard": 14,        # hard muon bremsstrahlung / nuclear interaction, visible
    # hadron setup
    "pion_shower": 20,           # ordinary hadronic shower of the beam pion
    "cex_pi0": 21,               # charge exchange pi- p -> pi0 n
    "cex_eta_visible": 22,       # pi- p -> eta n, eta -> visible
    "cex_etaprime_visible": 23,  # pi- p -> eta' n, eta' -> visible
    "hadron_punch_through": 24,  # leading neutral punching through all calorimeters
    # signal
    "signal": 100,
}
PROCESS_NAMES = {v: k for k, v in PROCESSES.items()}
# the code blocks above: 0-9 electron/positron setup, 10-19 muon, 20-29 hadron (tests/test_attack_bad_input.py
# checks every process `simulate` makes for a setup is in its block)
_SETUP_CODES = {"electron": range(0, 10), "muon": range(10, 20), "hadron": range(20, 30)}


def setup_processes(setup: str) -> list[str]:
    """The background process names of one setup (the names configuration keys may refer to)."""
    return [name for name, code in PROCESSES.items() if code in _SETUP_CODES[setup]]


class SchemaError(NA64Error):
    """A file does not match the event schema (lists every problem)."""


def branches(setup: str, truth: bool = False) -> tuple[Branch, ...]:
    if setup not in SETUPS:
        raise NA64Error(f"unknown setup '{setup}'; known: {', '.join(SETUPS)}")
    return SETUPS[setup] + (TRUTH if truth else ())


def branch_names(setup: str, truth: bool = False) -> list[str]:
    return [b.name for b in branches(setup, truth)]


def numpy_types(setup: str, truth: bool = False) -> dict[str, np.dtype]:
    """{branch: numpy dtype}, the argument of uproot's ``mktree``."""
    return {b.name: np.dtype(b.dtype) for b in branches(setup, truth)}


def _compatible(expected: np.dtype, found: np.dtype) -> bool:
    if expected.kind == "f":
        return found.kind in "fiu"
    if expected.kind in "iu":
        return found.kind in "iu"
    return expected == found


def check_tree(tree, setup: str, path: str, branch_map: dict[str, str] | None = None,
               truth: bool = False, read_probe: bool = True) -> None:
    """Raise SchemaError naming ``path`` and every missing or mistyped branch of the setup.

    ``read_probe=False`` (used by `process`, which checks basket bounds itself): TTree branch types come
    from their interpretation without decompressing any basket; only RNTuple fields are probed.
    """
    import uproot

    branch_map = branch_map or {}
    missing, mistyped = [], []
    try:   # an RNTuple reads its footer only now: a truncated one fails here
        keys = set(tree.keys())
    except Exception as exc:
        raise NA64Error(f"{path}: cannot read the tree's branch list ({type(exc).__name__}: {exc}); "
                        "the file may be truncated or corrupt") from exc
    wanted = [(b, branch_map.get(b.name, b.name)) for b in branches(setup, truth)]
    present = [real for _, real in wanted if real in keys]
    # read at most one entry: gives the numpy type for TTree and RNTuple alike
    try:
        if not read_probe and all(isinstance(getattr(tree[r], "interpretation", None), uproot.AsDtype)
                                  for r in present):   # flat TTree branches: types without reading
            probe = {r: np.empty(0, dtype=tree[r].interpretation.numpy_dtype) for r in present}
        else:
            probe = tree.arrays(present, entry_stop=min(1, tree.num_entries), library="np") if present else {}
    except Exception as exc:
        raise NA64Error(f"{path}: cannot read branches ({type(exc).__name__}: {exc}); "
                        "the file may be truncated or corrupt") from exc
    for b, real in wanted:
        if real not in keys:
            missing.append(real if real == b.name else f"{real} (schema '{b.name}')")
            continue
        arr = np.asarray(probe[real])
        found, flat = arr.dtype, arr.dtype.kind != "O" and arr.ndim == 1   # jagged/array fields are not flat
        if not flat or not _compatible(np.dtype(b.dtype), found):
            what = "not a flat numeric branch (one number per event)" if not flat else f"{found} (expected {b.dtype})"
            mistyped.append(f"{real}: {what}")
    if missing or mistyped:
        parts = []
        if missing:
            parts.append(f"missing branches: {', '.join(missing)}")
        if mistyped:
            parts.append(f"mistyped branches: {'; '.join(mistyped)}")
        raise SchemaError(f"{path}: does not match the '{setup}' event schema v{SCHEMA_VERSION} "
                          f"(tree '{getattr(tree, 'name', '?')}'): " + "; ".join(parts)
                          + ". Map real branch names in the configuration under input.branches.")


def open_tree(path: str | Path, tree_name: str = TREE_NAME):
    """Open ``path`` and return its tree, with one clear error for a missing, corrupt or empty file."""
    import uproot

    path = str(path)
    if not Path(path).exists():
        raise NA64Error(f"{path}: file not found")
    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises many kinds for corrupt/truncated files
        raise NA64Error(f"{path}: not a readable ROOT file ({type(exc).__name__}: {exc})") from exc
    if tree_name not in f:
        found = ", ".join(k.split(";")[0] for k in f.keys()) or "nothing"
        raise NA64Error(f"{path}: no tree '{tree_name}' (found: {found}); set input.tree in the configuration")
    try:
        return f[tree_name]
    except Exception as exc:
        raise NA64Error(f"{path}: tree '{tree_name}' unreadable ({type(exc).__name__}: {exc}); "
                        "the file may be truncated or corrupt") from exc


def read_events(path: str | Path, setup: str, tree_name: str = TREE_NAME,
                branch_map: dict[str, str] | None = None, truth: bool | None = None,
                entry_start: int | None = None, entry_stop: int | None = None) -> dict[str, np.ndarray]:
    """Read a file into {schema branch name: numpy array}, checking the schema first.

    ``truth=None`` reads the truth branches when the file has them.
    """
    tree = open_tree(path, tree_name)
    branch_map = branch_map or {}
    if truth is None:
        truth = all(branch_map.get(b.name, b.name) in tree.keys() for b in TRUTH)
    check_tree(tree, setup, str(path), branch_map, truth)
    names = branch_names(setup, truth)
    real = [branch_map.get(n, n) for n in names]
    try:
        arrays = tree.arrays(real, library="np", entry_start=entry_start, entry_stop=entry_stop)
    except Exception as exc:
        raise NA64Error(f"{path}: reading failed ({type(exc).__name__}: {exc}); the file may be truncated") from exc
    return {n: arrays[r] for n, r in zip(names, real)}


# ROOT compression of the files we write, chosen by measurement (benchmarks/RESULTS.md, "compression"):
# ZSTD level 1 gives the size of uproot's default ZLIB level 1 (within 1%), writes ~7x and reads ~2.4x
# faster; LZ4 is faster still but its files are ~17% larger (disk bound of a full-exposure run).
COMPRESSION = ("ZSTD", 1)


def compression():
    """The uproot compression object of :data:`COMPRESSION`."""
    import uproot

    name, level = COMPRESSION
    return getattr(uproot, name)(level)


# The same events give the same file bytes (the freeze pins ntuples by their bytes, docs/simulation.md
# "Seeds"), whatever the machine, time zone or environment. uproot stamps ``datetime.datetime.now()``
# into the file, directory, key and tree headers and has no option for it, so while we write, its
# writing modules see a clock fixed at 1995-01-01 (the earliest time a ROOT TDatime holds); the file
# UUID is derived from the file name, number of events and a sample of every column's bytes (uproot's
# ``uuid_function`` option), so files with other events get other UUIDs; the file name ROOT records is
# the final one (``atomic_output(same_name=True)``).
ROOT_EPOCH = datetime.datetime(1995, 1, 1)
_UPROOT_CLOCK_MODULES = ("_cascade", "_cascadetree", "_cascadentuple", "writable")
_UPROOT_CLOCK = threading.Lock()


class _FixedClock(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return ROOT_EPOCH if tz is None else ROOT_EPOCH.replace(tzinfo=datetime.UTC).astimezone(tz)


@contextmanager
def _fixed_uproot_clock():
    from uproot import writing

    clock = SimpleNamespace(datetime=_FixedClock)
    with _UPROOT_CLOCK, ExitStack() as stack:
        for name in _UPROOT_CLOCK_MODULES:
            module = getattr(writing, name)
            if not hasattr(module, "datetime"):
                raise NA64Error(f"uproot {module.__name__} changed: cannot write reproducible ROOT files "
                                "(update na64flow.events._UPROOT_CLOCK_MODULES)")
            stack.enter_context(mock.patch.object(module, "datetime", clock))
        yield


def file_uuid(name: str, tree_name: str, data: dict[str, np.ndarray]) -> uuid.UUID:
    """A deterministic UUID of a file's content: its name, tree, number of events and, of every column,
    the first and last 64 values and 1024 evenly spaced ones (cheap next to the compression)."""
    digest = hashlib.blake2b(f"{name}\0{tree_name}".encode(), digest_size=16)
    for key in sorted(data):
        col = data[key]
        step = max(len(col) // 1024, 1)
        digest.update(f"\0{key}:{len(col)}:{col.dtype.str}".encode())
        for part in (col[:64], col[-64:], col[::step]):
            digest.update(np.ascontiguousarray(part).tobytes())
    return uuid.UUID(bytes=digest.digest(), version=5)


def write_events(path: str | Path, columns: dict[str, np.ndarray], setup: str, truth: bool,
                 tree_name: str = TREE_NAME, cluster_events: int | None = None) -> None:
    """Write one chunk of events (all branches of the setup) to a new ROOT file, atomically
    (compression :data:`COMPRESSION`); the same events give the same bytes. ``cluster_events``: baskets
    (clusters) of that many entries, as a DAQ writes them; default one basket per branch."""
    import uproot

    from .paths import atomic_output

    types = numpy_types(setup, truth)
    missing = sorted(set(types) - set(columns))
    if missing:
        raise NA64Error(f"{path}: cannot write, columns missing: {', '.join(missing)}")
    data = {k: np.ascontiguousarray(columns[k], dtype=t) for k, t in types.items()}
    lengths = {k: len(v) for k, v in data.items()}
    n = max(lengths.values(), default=0)
    short = sorted(k for k, m in lengths.items() if m != n)
    if short:
        raise NA64Error(f"{path}: cannot write, columns of unequal length ({n} events, but "
                        + ", ".join(f"{k}: {lengths[k]}" for k in short[:5]) + ")")
    ident = file_uuid(Path(path).name, tree_name, data)
    step = int(cluster_events) if cluster_events else max(n, 1)
    with atomic_output(path, mode=None, same_name=True) as tmp, _fixed_uproot_clock():
        with uproot.recreate(tmp, compression=compression(), uuid_function=lambda: ident) as f:
            f.mktree(tree_name, types, title=f"na64flow {setup} schema v{SCHEMA_VERSION}")
            for start in range(0, max(n, 1), step):
                f[tree_name].extend({k: v[start:start + step] for k, v in data.items()})


def markdown_doc() -> str:
    """The schema as Markdown (docs/event-schema.md)."""
    out = [f"# Event schema v{SCHEMA_VERSION}", "", __doc__.strip(), ""]
    for setup in SETUPS:
        out += [f"## Setup `{setup}`", "", "| branch | type | unit | meaning |", "|---|---|---|---|"]
        out += [f"| `{b.name}` | {b.dtype} | {b.unit} | {b.doc} |" for b in SETUPS[setup]]
        out.append("")
    out += ["## Truth branches (simulated files only)", "", "| branch | type | unit | meaning |", "|---|---|---|---|"]
    out += [f"| `{b.name}` | {b.dtype} | {b.unit} | {b.doc} |" for b in TRUTH]
    out += ["", "## Process codes (`true_process`)", "", "| code | process |", "|---|---|"]
    out += [f"| {c} | `{n}` |" for n, c in PROCESSES.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown_doc(), end="")
