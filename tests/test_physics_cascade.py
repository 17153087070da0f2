"""Shower track lengths: the numba cascade against energy conservation, sum rules and Tsai's spectrum."""

import numpy as np
import pytest

from na64flow import NA64Error
from na64flow.physics import cascade, tracklength
from na64flow.physics.constants import PB_CRITICAL_E_GEV


@pytest.fixture(scope="module")
def shower_10gev():
    return cascade.simulate("e-", 10.0, 40, seed=3)


def test_cascade_deposits_the_beam_energy_exactly(shower_10gev):
    _, book = shower_10gev
    total = book["ionisation_gev"] + book["soft_radiation_gev"] + book["cut_deposit_gev"] + book["leakage_gev"]
    assert total == pytest.approx(10.0, rel=1e-9)
    assert book["leakage_gev"] < 0.01 * 10.0          # 40 X0 contain a 10 GeV shower


def test_cascade_charged_track_length_is_of_order_e0_over_critical_energy(shower_10gev):
    table, book = shower_10gev
    t_total = table.electron_x0.sum() + table.positron_x0.sum()
    # every X0 of charged track loses E_c to ionisation (bookkeeping identity)
    assert t_total * PB_CRITICAL_E_GEV == pytest.approx(book["ionisation_gev"], rel=1e-6)
    # Rossi approximation B: T = E0/E_c; tracking cuts (1 MeV) and soft radiation take the rest
    ratio = t_total * PB_CRITICAL_E_GEV / 10.0
    assert 0.5 < ratio < 1.0
    # roughly as many e+ as e- at low energy, but fewer positrons overall (the primary is an e-)
    assert 0.2 < table.positron_x0.sum() / table.electron_x0.sum() < 1.0


@pytest.fixture(scope="module")
def high_100gev():
    return cascade.simulate_table("e-", 100.0, n_full=0, n_high=8000, seed=5)


def test_primary_electron_track_above_half_beam_energy_matches_tsai(high_100gev):
    tsai = tracklength.tsai_primary_table("e-", 100.0)
    e = high_100gev.energy_centers_gev
    mc = high_100gev.per_energy("e-")[e > 60].sum()
    ref = tsai.per_energy("e-")[e > 60].sum()
    # above 0.6 E0 nearly every electron is the primary: cascade brem == Tsai's I_e
    assert mc == pytest.approx(ref, rel=0.05)


def test_electron_beam_makes_shower_positrons_but_none_near_beam_energy(high_100gev):
    e = high_100gev.energy_centers_gev
    pos = high_100gev.per_energy("e+")
    assert pos[(e > 50) & (e < 70)].sum() > 0            # the resonance region 0.22-0.30 GeV is fed
    assert pos[-1] == 0.0 and pos[e > 95].sum() < 1e-3 * high_100gev.per_energy("e-")[e > 95].sum()
    # softer positrons dominate: T+(E) falls with energy
    assert pos[(e > 5) & (e < 10)].sum() > 10 * pos[(e > 50) & (e < 55)].sum()


def test_positron_beam_table_has_the_primary_positron_at_the_beam_energy():
    t = cascade.simulate_table("e+", 100.0, n_full=0, n_high=2000, seed=9)
    e = t.energy_centers_gev
    assert e[-1] > 98 and t.per_energy("e+")[-1] > 0.1
    assert t.per_energy("e-")[-1] == 0.0


def test_tsai_primary_track_length_is_the_target_depth_when_all_energies_are_kept():
    edges = np.geomspace(1e-12, 100.0, 401)
    t = tracklength.tsai_primary_table("e-", 100.0, energy_edges_gev=edges, depth_edges_x0=np.linspace(0, 2, 5))
    assert t.electron_x0.sum() == pytest.approx(2.0, rel=1e-3)
    assert np.allclose(t.electron_x0.sum(axis=0), 0.5, rtol=1e-3)


def test_track_length_table_round_trip(tmp_path, high_100gev):
    p = tmp_path / "cache" / "tracklength_e-_100.npz"
    high_100gev.save(p)
    back = tracklength.load(p)
    assert np.array_equal(back.positron_x0, high_100gev.positron_x0)
    assert back.beam == "e-" and back.e0_gev == 100.0 and back.source == high_100gev.source
    with pytest.raises(NA64Error, match="tracklengths"):
        tracklength.load(tmp_path / "missing.npz")


def test_shower_track_length_follows_rossi_approximation_a(high_100gev):
    # Rossi approximation A [lit, Rossi "High-Energy Particles" 1952]: for E_c << E << E0 the e+ + e-
    # differential track length is 0.437 E0/E^2 X0/GeV, about half of it positrons
    t = high_100gev
    e, widths = t.energy_centers_gev, np.diff(t.energy_edges_gev)
    for lo, hi in [(2.0, 4.0), (4.0, 8.0), (8.0, 16.0)]:
        s = (e > lo) & (e < hi)
        mc = ((t.differential("e-") + t.differential("e+")) * widths)[s].sum()
        ref = (0.437 * 100.0 / e**2 * widths)[s].sum()
        assert mc == pytest.approx(ref, rel=0.06), (lo, hi)
        assert 0.35 < t.per_energy("e+")[s].sum() / (t.per_energy("e-")[s].sum() + t.per_energy("e+")[s].sum()) < 0.5
