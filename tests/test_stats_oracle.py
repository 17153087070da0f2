"""CLs machinery against closed forms and pyhf: the zero-observed oracle, exact Poisson CLs, pyhf toys."""

from __future__ import annotations

import math

import numpy as np
import pytest

from na64flow.stats import (
    Channel,
    ToyCLs,
    asymptotic_limit_events,
    counting_cls,
    counting_limit_events,
    pyhf_spec,
    toy_limit_events,
    zero_observed_limit_events,
)

ONE = np.array([1.0])


def test_zero_observed_closed_form_gives_2p303_events_at_90cl_and_2p996_at_95cl():
    assert zero_observed_limit_events(0.9) == pytest.approx(2.303, abs=5e-4)
    assert zero_observed_limit_events(0.95) == pytest.approx(2.996, abs=5e-4)
    for b in (1e-3, 0.5, 3.0, 20.0):   # CLs = e^-s for any background
        assert counting_limit_events(0, b, 0.9) == pytest.approx(2.3026, abs=1e-3)
        assert counting_limit_events(0, b, 0.95) == pytest.approx(2.9957, abs=1e-3)


@pytest.mark.parametrize("background", [1e-3, 0.5, 3.0])
def test_zero_observed_gives_2p303_events_at_90cl_with_toys_for_any_background(background):
    toys = ToyCLs([Channel("na64e", "r", background)], n_toys=20000, seed=11, max_signal_events=30)
    lim = toy_limit_events(toys, ONE, observed=np.array([0]), cl=0.9)
    # toy precision: CLs ~ 0.1 from 2e4 toys -> ~2% on p_s+b -> ~0.025 events (3 sigma below)
    assert lim["obs"] == pytest.approx(2.303, abs=0.075)


def test_zero_observed_gives_2p996_events_at_95cl_with_toys():
    toys = ToyCLs([Channel("na64e", "r", 0.5)], n_toys=20000, seed=5, max_signal_events=30)
    assert toy_limit_events(toys, ONE, np.array([0]), cl=0.95)["obs"] == pytest.approx(2.996, abs=0.1)


@pytest.mark.parametrize("n_obs,background", [(1, 0.5), (2, 1.2), (4, 3.0)])
def test_toy_limit_matches_exact_poisson_cls_with_events_observed(n_obs, background):
    exact = counting_limit_events(n_obs, background, 0.9)
    toys = ToyCLs([Channel("na64e", "r", background)], n_toys=20000, seed=3, max_signal_events=40)
    assert toy_limit_events(toys, ONE, np.array([n_obs]), 0.9)["obs"] == pytest.approx(exact, rel=0.03)


def test_toy_median_expected_equals_exact_limit_at_median_background_count():
    # b = 3: the median background-only count is 3, so the median expected limit is the n_obs = 3 limit
    toys = ToyCLs([Channel("na64e", "r", 3.0)], n_toys=20000, seed=8, max_signal_events=40)
    lim = toy_limit_events(toys, ONE, None, 0.9)
    assert lim["exp"] == pytest.approx(counting_limit_events(3, 3.0), rel=0.03)
    assert lim["exp_m2"] < lim["exp_m1"] < lim["exp"] < lim["exp_p1"] < lim["exp_p2"]
    assert math.isnan(lim["obs"])


def test_toy_limits_are_reproducible_with_the_seed():
    # total background 0.4: P(0) = 0.67 and P(<=1) = 0.94 keep the median and +1 sigma quantiles away from
    # a count step (at b = 0.7, P(0) ~ 0.5 and the median flips between seeds by construction)
    chans = [Channel("na64e", "a", 0.3, 0.08, {"eff": 0.1}), Channel("na64e", "b", 0.1, 0.05, {"eff": 0.1})]
    shape = np.array([0.7, 0.3])
    a = toy_limit_events(ToyCLs(chans, 3000, seed=1), shape)
    b = toy_limit_events(ToyCLs(chans, 3000, seed=1), shape)
    assert {k: v for k, v in a.items() if k != "obs"} == {k: v for k, v in b.items() if k != "obs"}
    c = toy_limit_events(ToyCLs(chans, 3000, seed=2), shape)
    assert c["exp_p1"] != a["exp_p1"] and c["exp_p1"] == pytest.approx(a["exp_p1"], rel=0.1)


def test_toy_cls_agrees_with_pyhf_toy_calculator_on_one_bin():
    """Same model, same mu: our vectorised toys vs pyhf's ToyCalculator (fits per toy, q~_mu).

    One bin without systematics: q~_mu and our likelihood-ratio statistic order the counts the same
    way below mu s + b, so the CLs values must agree within the toy precision.
    """
    import pyhf

    pyhf.set_backend("numpy")
    ch = [Channel("na64e", "r", 0.8)]
    spec = pyhf_spec(ch, ONE, observed=[1], poi_max=30)
    ws = pyhf.Workspace(spec)
    model, data = ws.model(), ws.data(ws.model())
    mu = 3.5
    np.random.seed(2)   # pyhf toys use numpy's global random state
    # (pyhf 0.7.6 hypotest(calctype="toybased") fails with numpy 2 in its percentile call, so the
    # calculator is driven directly: the same test statistic, toy distributions and p-values)
    calc = pyhf.infer.calculators.ToyCalculator(data, model, ntoys=400, test_stat="qtilde", track_progress=False)
    sb_dist, b_dist = calc.distributions(mu)
    cls_pyhf = float(calc.pvalues(calc.teststatistic(mu), sb_dist, b_dist)[2])
    cls_ours, _ = ToyCLs(ch, 20000, seed=2, max_signal_events=30).cls(ONE, mu, np.array([1]))
    exact = counting_cls(mu, 1, 0.8)
    assert cls_ours == pytest.approx(exact, rel=0.05)
    # 400 pyhf toys: CLs ~ 0.13 known to ~ +-0.025 (p_s+b binomial); allow 3 sigma
    assert cls_pyhf == pytest.approx(exact, abs=0.075)
    assert cls_ours == pytest.approx(cls_pyhf, abs=0.075)


@pytest.mark.parametrize("channels, shape, observed", [
    ([Channel("na64e", "r", 5.0)], [1.0], None),
    ([Channel("na64e", "r", 4.0, 1.0, {"eff": 0.1})], [1.0], [3]),
    ([Channel("a", "r1", 0.3, 0.1, {"eff": 0.1}), Channel("b", "r2", 2.0, 0.8, {"eff": 0.1}),
      Channel("c", "r3", 0.0, 0.0, {})], [0.5, 0.3, 0.2], None),
    ([Channel("a", "r1", 0.3, 0.1, {"eff": 0.1}), Channel("b", "r2", 2.0, 0.8, {"eff": 0.1})], [0.7, 0.3], [1, 4]),
])
def test_asymptotic_limits_equal_pyhf_toms748_scan_on_the_same_workspace(channels, shape, observed):
    """The cached calculator (three mu-independent fits done once) is pyhf's hypotest + toms748_scan: the
    same numbers, not merely close ones, blinded and unblinded, one and several channels."""
    import pyhf
    from pyhf.infer.intervals.upper_limits import toms748_scan

    from na64flow.stats.asymptotic import _AsymptoticCLs, _workspace

    cl, shape = 0.9, np.array(shape)
    ours = asymptotic_limit_events(channels, shape, observed, cl=cl)
    model, data, lo, hi = _workspace(channels, shape, observed, cl, 1e-6)   # the same workspace and bracket
    obs, exp = toms748_scan(data, model, lo, hi, level=1.0 - cl, rtol=1e-3, test_stat="qtilde",
                            calctype="asymptotics")
    assert [ours[k] for k in ("exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2")] == [float(e) for e in exp]
    assert ours["obs"] == float(obs) if observed else math.isnan(ours["obs"])
    # and at any single mu the CLs values are pyhf's hypotest's
    cls = _AsymptoticCLs(data, model)
    for mu in (0.5, 3.0, 9.0):
        o, e = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde", return_expected_set=True)
        assert (float(cls(mu)[0]), [float(x) for x in cls(mu)[1]]) == (float(o), [float(x) for x in e])


def test_toy_normsys_factor_matches_pyhf_code1_both_sides():
    """pyhf normsys (code 1): factor (1+rel)^theta above, (1-rel)^(-theta) below -> 0.9 at theta = -1."""
    import numpy as np

    from na64flow.stats.toys import _normsys_log_factor

    theta = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0]])
    rel = np.array([[0.1, 0.5]])
    f = np.exp(_normsys_log_factor(theta, rel))
    np.testing.assert_allclose(f[:, 0], [0.81, 0.9, 1.0, 1.1, 1.21])
    np.testing.assert_allclose(f[:, 1], [0.25, 0.5, 1.0, 1.5, 2.25])
    assert np.median(np.exp(_normsys_log_factor(np.random.default_rng(1).standard_normal((20001, 1)),
                                                  np.array([[0.99]])))) == pytest.approx(1.0, abs=0.05)


def _exact_two_channel_cls(mu, shape, b, observed):
    """CLs of the LEP statistic t = sum n_i ln(1 + s_i/b_i) of two Poisson bins without systematics, by
    enumerating every count pair (the oracle of the multi-channel toys)."""
    from scipy.stats import poisson

    s = mu * np.asarray(shape)
    w = np.log1p(s / np.asarray(b))
    n = np.arange(80)
    t = n[:, None] * w[0] + n[None, :] * w[1]
    below = t <= float(np.dot(observed, w)) + 1e-9
    p_sb = (np.outer(poisson.pmf(n, s[0] + b[0]), poisson.pmf(n, s[1] + b[1])) * below).sum()
    p_b = (np.outer(poisson.pmf(n, b[0]), poisson.pmf(n, b[1])) * below).sum()
    return p_sb / p_b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_observed_limit_of_a_two_channel_deficit_is_precise(seed):
    """A deficit in two channels (b = 3 + 2.5 expected, 1 + 1 observed: CL_b ~ 0.04): the observed limit
    gets the toys its precision needs (stats.obs_precision_rel) and matches the enumerated exact CLs."""
    from scipy.optimize import brentq

    b, observed, shape = (3.0, 2.5), np.array([1.0, 1.0]), np.array([0.6, 0.4])
    exact = brentq(lambda m: _exact_two_channel_cls(m, shape, b, observed) - 0.1, 0.1, 30.0, xtol=1e-8)
    toys = ToyCLs([Channel("na64e", "a", b[0]), Channel("na64e", "b", b[1])], n_toys=10000, seed=seed,
                  max_signal_events=40)
    assert toy_limit_events(toys, shape, observed, 0.9)["obs"] == pytest.approx(exact, rel=0.03)
    # the ensemble alone (no further toys) is what the stated precision is about
    alone = toy_limit_events(toys, shape, observed, 0.9, obs_precision=1.0)["obs"]
    assert alone != toy_limit_events(toys, shape, observed, 0.9)["obs"]
