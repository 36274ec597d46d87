"""Data drift between two samples of a numeric feature: the population stability index (PSI)
and the two-sample Kolmogorov-Smirnov statistic with its asymptotic p-value.

Pure functions on lists of floats; the service (``services.model_drift``) loads the training
sample and the recent requests and calls ``compare``.

PSI bins the reference into (at most) ``bins`` quantile bins and compares the share of each
sample per bin: ``sum((cur - ref) * ln(cur / ref))``, an empty bin counting as ``EPSILON``.
The usual reading: below 0.1 no shift, 0.1 to 0.25 a moderate one, above 0.25 a large one.
KS is the largest gap between the two empirical distribution functions (0 to 1).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_BINS = 10
EPSILON = 1e-4  # the share given to an empty bin, so ln() stays finite
DEFAULT_THRESHOLD = 0.2  # PSI above this: the feature drifted


def quantile_edges(reference: Sequence[float], bins: int = DEFAULT_BINS) -> list[float]:
    """The inner edges of ``bins`` equal-count bins of ``reference`` (duplicates dropped, so a
    feature with few distinct values gets fewer bins)."""
    if not reference:
        raise ValueError("the reference sample is empty")
    if bins < 2:
        raise ValueError("at least two bins are needed")
    ordered = sorted(reference)
    n = len(ordered)
    edges: list[float] = []
    for k in range(1, bins):
        edge = ordered[min(n - 1, (n * k) // bins)]
        if (not edges or edge > edges[-1]) and edge > ordered[0]:
            edges.append(edge)
    return edges


def shares(values: Sequence[float], edges: Sequence[float]) -> list[float]:
    """The share of ``values`` in each bin; bin ``i`` holds ``edges[i-1] <= v < edges[i]``."""
    counts = [0] * (len(edges) + 1)
    for value in values:
        counts[bisect_right(edges, value)] += 1
    total = len(values)
    return [count / total for count in counts]


def psi(reference: Sequence[float], current: Sequence[float], bins: int = DEFAULT_BINS) -> float:
    """The population stability index of ``current`` against ``reference`` (0 when the two
    fill the reference's quantile bins alike)."""
    if not current:
        raise ValueError("the current sample is empty")
    edges = quantile_edges(reference, bins)
    total = 0.0
    for ref, cur in zip(shares(reference, edges), shares(current, edges), strict=True):
        ref, cur = max(ref, EPSILON), max(cur, EPSILON)
        total += (cur - ref) * math.log(cur / ref)
    return total


def ks_statistic(first: Sequence[float], second: Sequence[float]) -> float:
    """The largest distance between the two samples' empirical distribution functions."""
    if not first or not second:
        raise ValueError("both samples need values")
    a, b = sorted(first), sorted(second)
    n, m = len(a), len(b)
    i = j = 0
    gap = 0.0
    while i < n and j < m:
        value = min(a[i], b[j])
        while i < n and a[i] == value:
            i += 1
        while j < m and b[j] == value:
            j += 1
        gap = max(gap, abs(i / n - j / m))
    return gap


def ks_pvalue(statistic: float, n: int, m: int) -> float:
    """The asymptotic two-sided p-value of a KS statistic for sample sizes ``n`` and ``m``
    (Kolmogorov's distribution with Stephens' small-sample correction)."""
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * statistic
    if lam < 1e-3:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    psi: float
    ks: float
    ks_pvalue: float
    reference_count: int
    current_count: int
    drifted: bool


def compare(
    name: str,
    reference: Sequence[float],
    current: Sequence[float],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    bins: int = DEFAULT_BINS,
) -> FeatureDrift:
    """PSI and KS of one feature; ``drifted`` when the PSI passes ``threshold``."""
    value = psi(reference, current, bins)
    statistic = ks_statistic(reference, current)
    return FeatureDrift(
        name=name,
        psi=value,
        ks=statistic,
        ks_pvalue=ks_pvalue(statistic, len(reference), len(current)),
        reference_count=len(reference),
        current_count=len(current),
        drifted=value > threshold,
    )
