"""Yields per particle on target: muon thin target vs direct integration, resonance window, mesons."""

import numpy as np
import pytest
from scipy import integrate

from na64flow import NA64Error
from na64flow.physics import brem, mesons, tracklength, yields, zprime
from na64flow.physics.constants import ALPHA, GEV2_TO_CM2, M_E_GEV, M_MU_GEV, PB_N_ATOMS_CM3, PB_X0_CM
from na64flow.physics.formfactors import g2_elastic, g2_inelastic


def _chi_quad(m, e0, ml):
    tmin, tmax = (m * m / (2 * e0)) ** 2, m * m + ml * ml

    def f(lt):
        t = np.exp(lt)
        return (t - tmin) / t * (g2_elastic(t) + g2_inelastic(t))

    return integrate.quad(f, np.log(tmin), np.log(tmax), limit=200)[0]


@pytest.mark.parametrize("mass_gev", [0.005, 0.05, 0.5])
def test_muon_zprime_yield_is_thin_target_full_ww_cross_section_times_br(mass_gev):
    """N/MOT = n_atoms L sigma_WW(E_Z' > E_thr) BR(Z' -> nu nu): x integral by scipy.quad of the full-WW
    dsigma/dx (the angular integral itself is checked in test_physics_crosssections)."""
    from na64flow.physics import muon_ww

    e0, thr, length_cm = 160.0, 80.0, 40 * PB_X0_CM
    sigma = integrate.quad(lambda x: float(muon_ww.dsigma_dx_ww(x, e0, mass_gev, alpha_eff=1 / (4 * np.pi))),
                           thr / e0, 1 - M_MU_GEV / e0, limit=200, points=[0.99, 0.999], epsrel=1e-5)[0]
    ref = PB_N_ATOMS_CM3 * length_cm * sigma * GEV2_TO_CM2 * float(zprime.branching_invisible(mass_gev))
    got = yields.lmu_ltau_muon_yield(mass_gev, e0, thr, length_cm=length_cm)[0]
    assert got == pytest.approx(ref, rel=1e-3)


def test_muon_yield_ratio_zprime_to_dark_photon_is_one_over_4pi_alpha_below_dimuon_threshold():
    y_z = yields.lmu_ltau_muon_yield(0.1, 160.0, 80.0)[0]
    y_a = yields.muon_brem_yield(0.1, 160.0, 80.0)[0]
    assert y_z / y_a == pytest.approx(1 / (4 * np.pi * ALPHA), rel=1e-9)


@pytest.fixture(scope="module")
def tsai_e_plus():
    return tracklength.tsai_primary_table("e+", 100.0)


def test_annihilation_yield_is_confined_to_the_resonance_window(tsai_e_plus):
    thr, e0 = 50.0, 100.0
    lo, hi = np.sqrt(2 * M_E_GEV * thr), np.sqrt(2 * M_E_GEV * e0)
    m = np.array([0.5 * lo, 0.99 * lo, 1.02 * lo, 0.5 * (lo + hi), 0.99 * hi, 1.01 * hi, 2 * hi])
    y = yields.annihilation_yield(m, tsai_e_plus, thr, e0, width="narrow")
    assert np.all(y[[0, 1, 5, 6]] == 0) and np.all(y[[2, 3, 4]] > 0)
    # the physical line shape (default) has Breit-Wigner tails outside the window, far below the peak
    bw = yields.annihilation_yield(m, tsai_e_plus, thr, e0)
    assert np.all(bw[[0, 6]] < 3e-2 * bw[3]) and np.all(bw[[2, 3, 4]] > 0)   # off-shell: 1.5% at m = lo/2


def test_narrow_width_annihilation_yield_formula(tsai_e_plus):
    m = 0.28
    e_r = m * m / (2 * M_E_GEV) - M_E_GEV
    dtde = float(yields.positron_dtde(tsai_e_plus, e_r))
    ref = 82 * PB_N_ATOMS_CM3 * PB_X0_CM * dtde * 2 * np.pi**2 * ALPHA / M_E_GEV * GEV2_TO_CM2
    assert yields.annihilation_yield(m, tsai_e_plus, 50.0, 100.0, width="narrow")[0] == pytest.approx(ref, rel=1e-9)


def test_breit_wigner_yield_approaches_narrow_width_for_small_alpha_d(tsai_e_plus):
    m = np.array([0.26])
    nw = yields.annihilation_yield(m, tsai_e_plus, 50.0, 100.0, width="narrow")
    bw = yields.annihilation_yield(m, tsai_e_plus, 50.0, 100.0, width="breit_wigner", alpha_d=1e-4)
    assert bw[0] == pytest.approx(nw[0], rel=0.03)


@pytest.fixture(scope="module")
def shower_e_minus_100():
    from na64flow.physics.cascade import simulate_table

    return simulate_table("e-", 100.0, n_full=0, n_high=4000, seed=3, progress=False)


@pytest.mark.parametrize("beam, e0, thr, centre_gev", [("e+", 100.0, 50.0, 0.3197), ("e+", 70.0, 28.0, 0.2675),
                                                        ("e+", 100.0, 50.0, 0.2261), ("e+", 70.0, 28.0, 0.1692),
                                                        ("e-", 100.0, 50.0, 0.2261)])
def test_annihilation_yield_vs_mass_has_no_artefact_narrower_than_the_resolution(beam, e0, thr, centre_gev,
                                                                                   shower_e_minus_100):
    """On a 0.5 MeV grid around sqrt(2 m_e E0) (primary positron at E0 in one 1.2% bin) and sqrt(2 m_e E_thr)
    (the threshold step) the default line shape (Breit-Wigner with the LDM width, 0.5% beam spread, ECAL
    10%/sqrt(E) + 2% folded into the threshold) changes by < 15% between neighbours: a 0.5 MeV step moves
    E_R by 1/(2 x 1.2%...) of the ~1 GeV ECAL resolution at 50 GeV and ~1/6 of the ~3% BW half width. The
    narrow-width yield fails the same criterion (spike / step), so the test can fail."""
    from na64flow.simulation import detector

    table = tracklength.tsai_primary_table("e+", e0) if beam == "e+" else shower_e_minus_100
    smooth = 4 if beam == "e-" else 0
    m = centre_gev + np.arange(-10, 10.5, 0.5) * 1e-3
    kw = dict(beam_spread_rel=detector.BEAM_SPREAD_REL, ecal_resolution=(detector.ECAL_STOCH, detector.ECAL_CONST))
    y = yields.annihilation_yield(m, table, thr, e0, smooth_bins=smooth, **kw)
    assert np.all(y > 0)
    assert np.max(np.abs(np.log(y[1:] / y[:-1]))) < np.log(1.15)
    nw = yields.annihilation_yield(m, table, thr, e0, width="narrow", smooth_bins=smooth)
    with np.errstate(divide="ignore", invalid="ignore"):
        jumps = np.abs(np.log(nw[1:] / nw[:-1]))
    assert np.any(~np.isfinite(jumps) | (jumps > np.log(1.15)))


def test_brem_yield_of_primary_alone_matches_tsai_double_integral():
    # n X0 int dt int dE I_e sigma(E): independent evaluation with scipy over u = ln(E0/E) and t
    from scipy import special

    m, e0, thr = 0.02, 100.0, 50.0
    tsai = tracklength.tsai_primary_table("e-", e0)
    got = yields.brem_yield_electron_beam(m, tsai, thr)[0]
    es = np.geomspace(thr, e0, 60)
    sig = brem.sigma_above(es, m, thr)

    def sigma_at(u):
        return np.interp(e0 * np.exp(-u), es, sig)

    u_max = np.log(e0 / thr)
    # track length density in u: int_0^40 dt gamma_pdf(u; 4t/3); the t -> 0 delta goes to u = 0
    def tl_u(u):
        return integrate.quad(lambda t: np.exp((4 * t / 3 - 1) * np.log(u) - u - special.gammaln(4 * t / 3)),
                              0, 40, limit=200)[0]

    # u < 1e-8 (E within 1e-6 GeV of E0): track length int dt P(4t/3, 1e-8) at sigma(E0); above it
    # in w = ln u, where the u^(bt-1) rise is smooth
    u0 = 1e-8
    near = integrate.quad(lambda t: special.gammainc(4 * t / 3, u0), 0, 40, limit=200, points=[0.01, 0.1])[0]
    rest = integrate.quad(lambda w: tl_u(np.exp(w)) * sigma_at(np.exp(w)) * np.exp(w), np.log(u0), np.log(u_max), epsrel=1e-5,
                          limit=200)[0]
    ref = PB_N_ATOMS_CM3 * PB_X0_CM * GEV2_TO_CM2 * (near * sigma_at(0.0) + rest)
    assert got == pytest.approx(ref, rel=0.005), (got, ref)


def test_meson_production_probability_is_sum_over_target_materials_of_effective_protons():
    p_eta = mesons.production_probability("eta")
    p_etap = mesons.production_probability("etaprime")
    assert p_etap / p_eta == pytest.approx(mesons.ETAPRIME_TO_ETA)
    layers = mesons.target_layers()
    x = 40 * PB_X0_CM / 17.59 + 40 * PB_X0_CM / 77.1             # Pb and polystyrene, equal thickness
    att = integrate.quad(lambda u: np.exp(-u), 0, x)[0] / x
    assert mesons.attenuation_factor(layers) == pytest.approx(att, rel=1e-9)
    protons = sum(n * length * neff for _, n, length, neff, _ in layers)
    assert p_eta == pytest.approx(protons * mesons.sigma_eta_proton_ub(50.0) * 1e-30 * att, rel=1e-9)
    # hydrogen of the scintillator: one free proton per H atom, 8 per C8H8
    h = next(layer for layer in layers if layer[0] == "H")
    assert h[3] == 1.0 and h[1] == pytest.approx(8 * 6.022e23 * 1.05 / 104.15, rel=1e-3)


def test_eta_charge_exchange_cross_section_is_the_geant4_lyubovitskij_parametrisation():
    """sigma(pi- p -> eta n) = 36 x^-1.26 (5.6 - 0.5 ln x)/(6.0 + 1.6 ln x) ub, x = s/10 GeV^2 (Geant4
    G4ChargeExchangeXS): by hand at 50 GeV/c s = 94.727 GeV^2, x = 9.4727 -> 0.988 ub; an A2-Regge fall
    (about p^-1.5 between 15 and 50 GeV/c); eta' = 0.55 eta."""
    assert mesons.sigma_eta_proton_ub(50.0) == pytest.approx(0.988, rel=1e-3)
    slope = np.log(mesons.sigma_eta_proton_ub(50.0) / mesons.sigma_eta_proton_ub(15.0)) / np.log(50.0 / 15.0)
    assert -1.6 < slope < -1.2
    assert mesons.sigma_proton_ub("etaprime", 50.0) == pytest.approx(0.55 * 0.988, rel=1e-3)
    with pytest.raises(NA64Error, match="unknown meson 'pi0'"):
        mesons.sigma_proton_ub("pi0")


def test_glauber_effective_protons_of_exclusive_charge_exchange():
    """No absorption: all Z protons count; with sigma_abs(pi N) = 21 mb the heavy nucleus is black in its
    centre and only the rim contributes: N_eff(Pb) ~ 8 (an A^(1/3)-like surface scaling), well below the
    inclusive Z A^-0.25 = 21.6 used before; for carbon about half the protons survive."""
    assert mesons.effective_protons(207.2, 82, sigma_abs_mb=1e-6) == pytest.approx(82.0, rel=1e-3)
    n_pb = mesons.effective_protons(207.2, 82)
    n_c = mesons.effective_protons(12.011, 6)
    assert 6.0 < n_pb < 11.0 and n_pb < 82 * 207.2 ** -0.25
    assert 2.3 < n_c < 3.5
    assert mesons.effective_protons(1.008, 1) == 1.0
    # more absorption, fewer effective protons
    assert mesons.effective_protons(207.2, 82, 30.0) < n_pb


def test_positron_smoothing_keeps_linear_trends_and_end_bins_and_reduces_noise():
    v = np.linspace(1.0, 2.0, 50)
    assert np.allclose(yields.smooth_symmetric(v, 4), v)
    spike = np.zeros(50)
    spike[-1] = 1.0                    # the end bins keep their value (windows shrink symmetrically)
    assert yields.smooth_symmetric(spike, 4)[-1] == 1.0 and yields.smooth_symmetric(spike, 4)[0] == 0.0
    rng = np.random.default_rng(1)
    noisy = 1.0 + 0.2 * rng.standard_normal(400)
    assert np.std(yields.smooth_symmetric(noisy, 4)[10:-10]) < 0.5 * np.std(noisy)
