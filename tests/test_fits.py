"""Side-band likelihood fits (na64flow.fits): known shapes and normalisations recovered on toys."""

import numpy as np
import pytest

from na64flow import NA64Error, fits

EDGES = np.arange(0.0, 20.25, 0.25)
TAU_GEV = 3.0


def _exp_expected(n_in_range, lo=1.0, hi=10.0, edges=EDGES, tau=TAU_GEV):
    """Expected bin contents of an exponential exp(-x/tau) with n_in_range events in [lo, hi]."""
    norm = n_in_range / (np.exp(-lo / tau) - np.exp(-hi / tau))
    return norm * (np.exp(-edges[:-1] / tau) - np.exp(-edges[1:] / tau)), norm * (1 - np.exp(-1.0 / tau))


def test_exponential_fit_recovers_slope_and_normalisation_on_large_sample():
    mu, _ = _exp_expected(1e6)
    res = fits.fit_spectrum(EDGES, mu, model="exponential", fit_range=(1.0, 10.0))
    assert res.valid
    assert res.values["b"] == pytest.approx(-1 / TAU_GEV, rel=1e-3)
    assert res.values["n"] == pytest.approx(1e6, rel=1e-3)
    assert res.deviance < 1e-3          # Asimov data: saturated fit


def test_box_extrapolation_pulls_have_unit_width_over_200_toys():
    rng = np.random.default_rng(11)
    mu, truth = _exp_expected(500.0)
    pulls_box, pulls_n = [], []
    for _ in range(200):
        n = rng.poisson(mu).astype(float)
        res = fits.fit_spectrum(EDGES, n, model="exponential", fit_range=(1.0, 10.0))
        est, err = res.extrapolate(0.0, 1.0)
        pulls_box.append((est - truth) / err)
        pulls_n.append((res.values["n"] - 500.0) / np.sqrt(res.covariance[0, 0]))
    for pulls in (np.array(pulls_box), np.array(pulls_n)):
        # 200 toys: error of the mean 0.07, of the width 0.05
        assert abs(pulls.mean()) < 0.25
        assert 0.85 < pulls.std(ddof=1) < 1.2


def test_weighted_histogram_fit_recovers_normalisation_with_weight_aware_errors():
    rng = np.random.default_rng(5)
    mu, _ = _exp_expected(400.0)
    w = 0.1                                   # 10x oversampled MC with weight 0.1
    pulls = []
    for _ in range(100):
        raw = rng.poisson(mu / w).astype(float)
        res = fits.fit_spectrum(EDGES, raw * w, raw * w * w, model="exponential", fit_range=(1.0, 10.0))
        pulls.append((res.values["n"] - 400.0) / np.sqrt(res.covariance[0, 0]))
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.35
    assert 0.75 < pulls.std(ddof=1) < 1.3


def test_exp_const_and_power_law_recover_their_own_shapes():
    x = 0.5 * (EDGES[:-1] + EDGES[1:])
    width = np.diff(EDGES)
    flat_exp = (np.exp(-x / 2.0) + 0.05) * width * 1e5
    res = fits.fit_spectrum(EDGES, flat_exp, model="exp_const", fit_range=(1.0, 15.0))
    assert res.values["b"] == pytest.approx(-0.5, rel=0.02)
    power = (x + 1.0) ** -2.5 * width * 1e5
    res = fits.fit_spectrum(EDGES, power, model="power_law", fit_range=(1.0, 15.0), offset_gev=1.0)
    assert res.values["p"] == pytest.approx(2.5, rel=0.02)


def test_systematic_envelope_excludes_pure_statistical_spread():
    central = fits.Candidate("exponential", (1, 6), 10.0, 2.0, 0.5, True)
    same_within_stat = fits.Candidate("exponential", (1, 4), 11.0, 3.0, 0.5, True)   # |delta| < stat difference
    shifted = fits.Candidate("power_law", (1, 6), 20.0, 2.0, 0.5, True)
    assert fits.systematic_shift(same_within_stat, central) == 0.0
    assert fits.systematic_shift(shifted, central) == pytest.approx(10.0)


def test_extrapolate_reports_every_candidate_and_ignores_bad_fits_in_the_systematic():
    rng = np.random.default_rng(2)
    mu, truth = _exp_expected(2000.0)
    n = rng.poisson(mu).astype(float)
    ex = fits.extrapolate(EDGES, n, target=(0.0, 1.0), fit_ranges=[(1.0, 10.0), (1.0, 6.0)], min_pvalue=1.1)
    assert len(ex.candidates) == 2 * len(fits.MODELS)
    assert ex.syst == 0.0                        # no candidate passes p >= 1.1
    assert abs(ex.estimate - truth) < 4 * ex.stat


def test_unknown_model_and_empty_fit_range_raise_na64error():
    with pytest.raises(NA64Error, match="unknown"):
        fits.fit_spectrum(EDGES, np.ones(80), model="gaussian", fit_range=(1, 5))
    with pytest.raises(NA64Error, match="fit range"):
        fits.fit_spectrum(EDGES, np.ones(80), model="exponential", fit_range=(50, 60))


def test_transfer_factor_with_empty_side_band_gives_zero_with_upper_value_error():
    cand = fits.transfer_candidate(0.0, mc_target=2.0, mc_target_var=0.0, mc_sideband=100.0, mc_sideband_var=0.0,
                                   fit_range=(1.0, 6.0))
    assert cand.estimate == 0.0
    assert cand.stat == pytest.approx(1.14 * 0.02)
    cand = fits.transfer_candidate(50.0, 2.0, 0.04, 100.0, 1.0, (1.0, 6.0))
    assert cand.estimate == pytest.approx(1.0)
    assert cand.stat == pytest.approx(np.hypot(np.sqrt(50) * 0.02, 1.0 * np.sqrt(0.01 + 1e-4)))


def test_sparse_side_band_falls_back_to_transfer_candidate():
    rng = np.random.default_rng(8)
    mu, _ = _exp_expected(4.0)
    n = rng.poisson(mu).astype(float)
    n_sb = n[(EDGES[:-1] >= 1.0) & (EDGES[1:] <= 10.0)].sum()
    transfer = [fits.transfer_candidate(n_sb, 1.0, 0.01, 5.0, 0.05, (1.0, 10.0))]
    ex = fits.extrapolate(EDGES, n, target=(0.0, 1.0), fit_ranges=[(1.0, 10.0)], min_events=10, transfer=transfer)
    assert ex.central.model == "mc_transfer"
    assert ex.estimate == pytest.approx(n_sb / 5.0)


def test_choice_that_does_not_close_on_simulation_is_replaced_by_transfer_factor():
    rng = np.random.default_rng(9)
    mu, truth = _exp_expected(3000.0)
    n = rng.poisson(mu).astype(float)
    sim_ok = (EDGES, mu, mu, truth, np.sqrt(truth))
    ex = fits.extrapolate(EDGES, n, target=(0.0, 1.0), fit_ranges=[(1.0, 10.0)], models=["exponential"],
                          simulation=sim_ok, transfer=[fits.transfer_candidate(3000, 1.0, 0.0, 3.0, 0.0, (1, 10))])
    assert ex.central.model == "exponential" and ex.central.closes
    sim_bad = (EDGES, mu, mu, 3 * truth, np.sqrt(truth))     # simulation says the box holds 3x more
    ex = fits.extrapolate(EDGES, n, target=(0.0, 1.0), fit_ranges=[(1.0, 10.0)], models=["exponential"],
                          simulation=sim_bad, transfer=[fits.transfer_candidate(3000, 1.0, 0.0, 3.0, 0.0, (1, 10))])
    assert not ex.candidates[0].closes and ex.candidates[0].closure_pull < -2
    assert ex.central.model == "mc_transfer" and ex.estimate == pytest.approx(1000.0)
