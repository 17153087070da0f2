"""Speed-related promises of the simulation (issue 15): the chosen ROOT compression is what is written,
the importance weights need no scipy.stats (a ~2 s import per process), and output stays seeded."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import uproot

from na64flow import events
from na64flow.simulation.processes_electron import _gamma_pdf_ratio


def test_written_files_carry_the_measured_choice_of_compression(tmp_path):
    rng = np.random.default_rng(2)
    cols = {k: rng.normal(size=5000).astype(t) for k, t in events.numpy_types("electron", truth=True).items()}
    events.write_events(tmp_path / "f.root", cols, "electron", truth=True)
    with uproot.open(tmp_path / "f.root") as f:
        comp = uproot.compression.Compression.from_code(f.file.fCompress)
        np.testing.assert_array_equal(f["events"]["ecal_gev"].array(library="np"), cols["ecal_gev"])
    name, level = events.COMPRESSION
    assert type(comp).__name__ == name == "ZSTD" and comp.level == level


def test_upstream_importance_weight_equals_the_ratio_of_the_gamma_pdfs():
    from scipy import stats

    x = np.random.default_rng(3).gamma(3.0, 2.0, 20000)
    ref = stats.gamma.pdf(x, 5.0, scale=1.5) / stats.gamma.pdf(x, 3.0, scale=2.0)
    np.testing.assert_allclose(_gamma_pdf_ratio(x, 5.0, 1.5, 3.0, 2.0), ref, rtol=1e-12)


def test_simulating_a_chunk_with_importance_weights_does_not_import_scipy_stats():
    code = (
        "import sys, types\n"
        "from na64flow.simulation import processes_electron\n"
        "ctx = types.SimpleNamespace(e0_gev=100.0, beam='e-', setup='electron', vhcal=False, dimuon_loss_prob=0.0)\n"
        "import numpy as np\n"
        "t = processes_electron.upstream_interaction(np.random.default_rng(1), 1000, ctx, component='enhanced')\n"
        "assert np.all(np.isfinite(t['bias_weight']))\n"
        "print('scipy.stats' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "False"
