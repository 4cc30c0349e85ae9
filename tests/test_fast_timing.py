"""``fast.timing``: warm-up calls untimed, one sample per timed call, the median reported."""
from __future__ import annotations

import pytest

from gptoss_edu.fast.timing import copy_bandwidth, median_seconds


def test_warms_up_then_times_each_call_and_reports_the_median():
    calls = []
    timing = median_seconds(lambda: calls.append(1), "cpu", warmup=3, iterations=5)
    assert len(calls) == 8 and timing.iterations == 5 and timing.warmup == 3
    assert min(timing.samples) <= timing.median <= max(timing.samples)


def test_refuses_zero_iterations():
    with pytest.raises(ValueError, match="iterations"):
        median_seconds(lambda: None, "cpu", iterations=0)


def test_copy_bandwidth_is_a_positive_rate():
    assert copy_bandwidth("cpu", megabytes=1, iterations=3) > 0
