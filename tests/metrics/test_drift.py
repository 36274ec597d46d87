"""PSI and KS on samples whose answer is known: identical, drawn alike, shifted, disjoint."""

from __future__ import annotations

import math
import random

import pytest

from lakeworks.metrics import drift


def _normal(n: int, mean: float = 0.0, sd: float = 1.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


def test_identical_samples_have_no_drift() -> None:
    sample = _normal(2000)
    result = drift.compare("x", sample, list(sample))
    assert result.psi == pytest.approx(0.0, abs=1e-12)
    assert result.ks == 0.0
    assert result.ks_pvalue == 1.0
    assert not result.drifted


def test_two_draws_of_one_distribution_stay_under_the_moderate_band() -> None:
    result = drift.compare("x", _normal(5000, seed=1), _normal(5000, seed=2))
    assert result.psi < 0.02
    assert result.ks < 0.04
    assert result.ks_pvalue > 0.01
    assert not result.drifted


def test_a_mean_shifted_by_one_standard_deviation_is_a_large_shift() -> None:
    result = drift.compare("x", _normal(5000, seed=1), _normal(5000, mean=1.0, seed=2))
    assert result.psi > 0.25
    # The KS statistic of N(0,1) against N(1,1) is 2*Phi(0.5)-1 = 0.383.
    assert result.ks == pytest.approx(0.383, abs=0.03)
    assert result.ks_pvalue < 1e-6
    assert result.drifted


def test_psi_grows_with_the_shift() -> None:
    reference = _normal(4000, seed=3)
    values = [drift.psi(reference, _normal(4000, mean=m, seed=4)) for m in (0.0, 0.25, 0.5, 1.0)]
    assert values == sorted(values)
    assert 0.1 < values[2] < values[3]


def test_psi_by_hand_on_two_bins() -> None:
    # Edges from [0,0,1,1] at two bins: {1}; reference shares 0.5/0.5, current 0.25/0.75.
    value = drift.psi([0, 0, 1, 1], [0, 1, 1, 1], bins=2)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert value == pytest.approx(expected)


def test_an_empty_bin_counts_as_epsilon_not_infinity() -> None:
    value = drift.psi([0, 0, 1, 1], [5, 5, 5, 5], bins=2)
    assert math.isfinite(value)
    assert value > 2


def test_ks_of_disjoint_samples_is_one() -> None:
    assert drift.ks_statistic([1, 2, 3], [4, 5, 6]) == 1.0
    assert drift.ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5


def test_ks_pvalue_matches_the_kolmogorov_distribution() -> None:
    # Large samples: p = Q_KS(sqrt(n/2) * D); Q_KS(1.36) is about 0.05.
    n = 100_000
    statistic = 1.36 / math.sqrt(n * n / (2 * n))
    assert drift.ks_pvalue(statistic, n, n) == pytest.approx(0.049, abs=0.002)


def test_a_constant_feature_and_few_distinct_values() -> None:
    assert drift.quantile_edges([3.0] * 50) == []
    assert drift.psi([3.0] * 50, [3.0] * 10) == pytest.approx(0.0)
    assert drift.quantile_edges([0, 1] * 50, bins=10) == [1]


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="reference"):
        drift.psi([], [1.0])
    with pytest.raises(ValueError, match="current"):
        drift.psi([1.0], [])
    with pytest.raises(ValueError):
        drift.ks_statistic([], [1.0])
