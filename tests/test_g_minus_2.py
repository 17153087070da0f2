"""(g-2)_mu physics of the g vs m_Z' plots (na64flow.physics.g_minus_2): the one-loop Z' contribution
against its analytic limits, and the band from the cited Delta a_mu."""

from __future__ import annotations

import math

import numpy as np

from na64flow.physics import g_minus_2
from na64flow.physics.constants import M_MU_GEV


def test_delta_a_mu_light_zprime_is_schwinger_term_g2_over_8pi2():
    g = 1e-3
    assert math.isclose(g_minus_2.delta_a_mu_zprime(g, 1e-6), g**2 / (8 * math.pi**2), rel_tol=1e-6)


def test_delta_a_mu_heavy_zprime_is_g2_mmu2_over_12pi2_mz2():
    g, m = 1e-2, 50.0
    expected = g**2 * M_MU_GEV**2 / (12 * math.pi**2 * m**2)
    assert math.isclose(g_minus_2.delta_a_mu_zprime(g, m), expected, rel_tol=1e-3)


def test_g_minus_2_band_at_low_mass_is_about_4p5e_minus_4():
    # Delta a_mu = 2.51e-9 -> g = sqrt(8 pi^2 * 2.51e-9) = 4.45e-4 for m_Z' << m_mu
    lo, hi = g_minus_2.g_minus_2_band(np.array([1e-7, 1.0]), 2.51e-9, 5.9e-10, 2.0)
    central = math.sqrt(8 * math.pi**2 * 2.51e-9)
    assert lo[0] < central < hi[0]
    assert math.isclose(hi[0], math.sqrt(8 * math.pi**2 * (2.51e-9 + 2 * 5.9e-10)), rel_tol=1e-4)
    assert hi[1] > 10 * hi[0]   # heavier Z' needs a larger coupling


def test_band_defaults_are_the_cited_2021_discrepancy_251_pm_59_e_minus_11_at_2_sigma():
    assert (g_minus_2.DELTA_A_MU, g_minus_2.DELTA_A_MU_UNC, g_minus_2.N_SIGMA) == (251e-11, 59e-11, 2.0)
    lo, hi = g_minus_2.g_minus_2_band(np.array([1e-7]))
    assert math.isclose(lo[0], math.sqrt(8 * math.pi**2 * (2.51e-9 - 2 * 5.9e-10)), rel_tol=1e-4)
    assert math.isclose(hi[0], math.sqrt(8 * math.pi**2 * (2.51e-9 + 2 * 5.9e-10)), rel_tol=1e-4)


def test_plotting_holds_no_g_minus_2_numbers_or_formula():
    from pathlib import Path

    import na64flow.plotting as plotting

    text = "".join(p.read_text() for p in Path(plotting.__file__).parent.glob("*.py"))
    for needle in ("2.51e-9", "5.9e-10", "quad(", "def delta_a_mu_zprime", "def g_minus_2_band"):
        assert needle not in text, needle
