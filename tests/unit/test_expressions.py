"""Upstash-Retry-Delay expressions are evaluated without eval()."""

from __future__ import annotations

import pytest

from broker.errors import BadRequest
from broker.expressions import check_delays, evaluate_delay_ms


@pytest.mark.parametrize(
    ("expression", "retried", "expected"),
    [
        ("1000", 0, 1000),
        ("1000 * (1 + retried)", 2, 3000),
        ("pow(2, retried) * 1000", 3, 8000),
        ("max(500, min(10000, 100 * retried))", 50, 5000),
        ("sqrt(16) + abs(-1) + floor(1.7) + ceil(0.2) + round(2.4)", 0, 9),
        ("exp(0) * 10 - retried", 20, 0),
    ],
)
def test_evaluation(expression: str, retried: int, expected: int) -> None:
    """Arithmetic and the documented functions over `retried`, clamped at zero."""
    assert evaluate_delay_ms(expression, retried) == expected


def test_division_by_zero_is_not_a_crash() -> None:
    """A degenerate expression yields no delay rather than killing the worker."""
    assert evaluate_delay_ms("1 / (retried - retried)", 1) == 0


@pytest.mark.parametrize(
    "expression", ["open('x')", "retried.__class__", "[1]", "lambda: 1", "x + 1", "pow(2, y=1)"]
)
def test_anything_else_is_refused(expression: str) -> None:
    """Names, attributes and calls outside the allow-list never run."""
    with pytest.raises(BadRequest):
        evaluate_delay_ms(expression, 0)


@pytest.mark.parametrize(
    ("expression", "retries", "bad_at"),
    [
        ("1000 - 100 * retried", 20, "retried=11"),
        ("-1", 0, "retried=0"),
        ("1 / (retried - 2) + 1", 3, "retried=2"),
        ("pow(10, 400)", 1, "no finite number"),
        ("exp(1000) - exp(1000)", 1, "no finite number"),
        ("(-1) ** 0.5", 1, "no finite number"),
    ],
)
def test_publish_check_names_the_first_bad_retry(
    expression: str, retries: int, bad_at: str
) -> None:
    """check_delays evaluates every retry the message can have and names the first whose
    delay is negative or not finite."""
    with pytest.raises(BadRequest, match=bad_at):
        check_delays(expression, retries, "Upstash-Retry-Delay")


def test_publish_check_accepts_what_holds_for_the_retries_asked() -> None:
    """`10000 - 1000 * retried` is fine for 10 retries, even though the 12th would be negative."""
    check_delays("10000 - 1000 * retried", 10, "Upstash-Retry-Delay")
    check_delays("pow(2, retried) * 1000", 20, "Upstash-Retry-Delay")
