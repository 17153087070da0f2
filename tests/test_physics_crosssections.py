"""Cross sections and widths against the check values and scaling laws of shared/physics.md §3."""

import numpy as np
import pytest
from scipy import integrate

from na64flow import NA64Error
from na64flow.physics import annihilation, brem, invisible_branching_ratio, zprime
from na64flow.physics.constants import ALPHA, M_E_GEV, M_MU_GEV
from na64flow.physics.formfactors import photon_flux_chi


@pytest.mark.parametrize("mass_gev, chi_over_z2", [(0.001, 7.2), (0.010, 11.5), (0.100, 12.4), (1.0, 3.4)])
def test_photon_flux_chi_over_z2_for_lead_at_100_gev_matches_physics_md(mass_gev, chi_over_z2):
    assert photon_flux_chi(mass_gev, 100.0) / 82**2 == pytest.approx(chi_over_z2, rel=0.02)


def test_photon_flux_chi_agrees_with_scipy_quad():
    m, e0 = 0.03, 100.0
    tmin, tmax = (m * m / (2 * e0)) ** 2, m * m + M_E_GEV**2
    from na64flow.physics.formfactors import g2_elastic, g2_inelastic

    def f(lt):
        t = np.exp(lt)
        return (t - tmin) / t * (g2_elastic(t) + g2_inelastic(t))

    ref = integrate.quad(f, np.log(tmin), np.log(tmax), limit=200)[0]
    assert photon_flux_chi(m, e0) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("mass_gev, k", [(0.001, 0.61), (0.002, 0.83), (0.004, 0.95), (0.010, 1.08), (0.020, 1.20),
                                          (0.030, 1.29), (0.050, 1.44), (0.100, 1.65), (0.200, 1.89), (0.300, 1.91),
                                          (0.500, 1.92), (1.000, 2.14)])
def test_k_factor_reproduces_table_nodes(mass_gev, k):
    assert float(brem.k_factor(mass_gev)) == pytest.approx(k, abs=1e-9)


def test_k_factor_interpolates_in_log_mass_and_is_flat_beyond_ends():
    # halfway in ln m between 10 and 20 MeV
    assert float(brem.k_factor(np.sqrt(0.010 * 0.020))) == pytest.approx(0.5 * (1.08 + 1.20), abs=1e-9)
    assert float(brem.k_factor(0.0005)) == pytest.approx(0.61)
    assert float(brem.k_factor(3.0)) == pytest.approx(2.14)


def test_etl_cross_section_is_iww_divided_by_k():
    x, m = 0.8, 0.05
    iww = brem.dsigma_dx(x, 100.0, m, etl_correction=False)
    assert brem.dsigma_dx(x, 100.0, m) == pytest.approx(iww / 1.44, rel=1e-9)


def test_brem_cross_section_scales_as_eps_squared():
    s1 = brem.sigma_above(100.0, 0.02, 50.0, eps=1.0)
    s2 = brem.sigma_above(100.0, 0.02, 50.0, eps=1e-3)
    assert s2 / s1 == pytest.approx(1e-6, rel=1e-9)


def test_brem_cross_section_scales_as_z_squared_at_fixed_form_factor():
    # elastic only, same nuclear size/screening: chi ~ Z^2 in the elastic term; pass chi explicitly
    chi = photon_flux_chi(0.02, 100.0, inelastic=False)
    d1 = brem.dsigma_dx(0.7, 100.0, 0.02, chi=chi)
    d2 = brem.dsigma_dx(0.7, 100.0, 0.02, chi=chi * (2 * 82) ** 2 / 82**2)
    assert d2 / d1 == pytest.approx(4.0, rel=1e-12)
    # the elastic form factor is Z^2 x a Z-independent shape where screening and nuclear size do not
    # act (1/a^2 << t << d): G2_el(t, Z)/Z^2 equal for Z = 41 and 82
    from na64flow.physics.formfactors import g2_elastic

    t = 1e-5
    assert g2_elastic(t, z=41) / 41**2 == pytest.approx(g2_elastic(t, z=82) / 82**2, rel=1e-3)


def test_total_iww_cross_section_scales_as_inverse_mass_squared_for_me_much_less_than_m_much_less_than_e0():
    # sigma/chi without K. For m > sqrt(m_e E0) the x -> 1 cut-off is 1 - x = m_e/E0 for both masses,
    # so the only m dependence left is 1/m^2 (up to beta and x > m/E0: 3%)
    m = np.array([0.4, 0.8])
    s = brem.sigma_above(100.0, m, 0.0, etl_correction=False) / photon_flux_chi(m, 100.0)
    assert s[0] / s[1] == pytest.approx(4.0, rel=0.03)
    # below sqrt(m_e E0) the cut-off 1 - x ~ m_e^2/m^2 adds a ln(m/m_e): 4 x ln-ratio
    m = np.array([0.02, 0.04])
    s = brem.sigma_above(100.0, m, 0.0, etl_correction=False) / photon_flux_chi(m, 100.0)
    assert 3.0 < s[0] / s[1] < 4.0


def test_sigma_above_threshold_matches_scipy_quad_for_electrons_and_muons():
    for e0, m, thr, ml in [(100.0, 0.01, 50.0, M_E_GEV), (100.0, 0.5, 50.0, M_E_GEV), (160.0, 0.05, 80.0, M_MU_GEV)]:
        def f(x, e0=e0, m=m, ml=ml):
            return brem.dsigma_dx(x, e0, m, ml)

        ref = integrate.quad(f, thr / e0, 1 - ml / e0, limit=500,
                             points=[1 - 1e-3, 1 - 1e-4])[0]
        assert brem.sigma_above(e0, m, thr, ml) == pytest.approx(ref, rel=1e-4)


def test_dsigma_dx_vanishes_outside_kinematic_range():
    assert brem.dsigma_dx(0.005, 100.0, 1.0) == 0.0          # x < m/E0
    assert brem.dsigma_dx(1 - 1e-7, 100.0, 0.01) == 0.0      # x > 1 - m_e/E0


def test_narrow_width_integral_of_breit_wigner_is_2pi2_alpha_over_me():
    m = 0.25
    e_r = float(annihilation.resonance_energy_gev(m))
    gam = float(annihilation.total_width_gev(m, 1e-3, m / 3))
    de = m * gam / M_E_GEV
    e = e_r + de * np.tan(np.linspace(-1.5700, 1.5700, 400001))
    assert e[0] > 0
    integral = np.trapezoid(annihilation.sigma_per_electron(e, m, 1.0, alpha_d=1e-3), e)
    assert integral == pytest.approx(2 * np.pi**2 * ALPHA / M_E_GEV, rel=0.01)
    assert annihilation.narrow_width_integral_gev(1e-4, 0.5) == pytest.approx(np.pi**2 * ALPHA * 1e-8 / M_E_GEV)


def test_resonance_peak_at_m2_over_2me():
    m = 0.3
    e = np.linspace(50, 120, 200001)
    s = annihilation.sigma_per_electron(e, m, alpha_d=0.01)
    assert e[np.argmax(s)] == pytest.approx(m * m / (2 * M_E_GEV), rel=2e-3)


def test_dark_photon_widths_dirac_scalar_and_ee():
    m, a_d = 0.3, 0.1
    assert annihilation.width_chichi_gev(m, a_d, 0.1) == pytest.approx(a_d * m / 3 * (1 + 2 / 9) * np.sqrt(1 - 4 / 9))
    assert annihilation.width_chichi_gev(m, a_d, 0.1, "scalar") == pytest.approx(a_d * m / 12 * (1 - 4 / 9) ** 1.5)
    assert annihilation.width_chichi_gev(m, a_d, 0.2) == 0.0               # closed: 2 m_chi > m
    assert annihilation.width_ee_gev(1.0, 1.0) == pytest.approx(ALPHA / 3, rel=1e-5)
    with pytest.raises(NA64Error, match="majorana"):
        annihilation.width_chichi_gev(m, a_d, 0.1, "majorana")


def test_zprime_widths_and_invisible_branching_ratio():
    assert zprime.width_nunu_gev(0.1, 1.0) == pytest.approx(0.1 / (12 * np.pi))
    assert zprime.width_mumu_gev(0.2, 1.0) == 0.0                          # below 2 m_mu
    m = 1.0
    r = M_MU_GEV**2 / m**2
    assert zprime.width_mumu_gev(m, 2.0) == pytest.approx(4 * m / (12 * np.pi) * (1 + 2 * r) * np.sqrt(1 - 4 * r))
    assert zprime.branching_invisible(0.1) == pytest.approx(1.0)
    assert 0.5 < zprime.branching_invisible(1.0) < 0.55
    assert invisible_branching_ratio("lmu_ltau", 0.1) == pytest.approx(1.0)


def test_loop_mixing_is_g_over_69():
    assert zprime.loop_mixing_eps(1.0) == pytest.approx(1 / 69, rel=0.01)


def test_invisible_branching_ratio_of_dark_photon_is_one_for_ldm_benchmark_and_zero_when_closed():
    assert invisible_branching_ratio("dark_photon", 0.03, alpha_d=0.1) == pytest.approx(1.0, abs=1e-6)
    assert invisible_branching_ratio("dark_photon", 0.03, alpha_d=0.1, m_chi_gev=0.02) == 0.0
    with pytest.raises(NA64Error, match="unknown model"):
        invisible_branching_ratio("axion", 0.1)
