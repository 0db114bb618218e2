"""Upstash-Retry-Delay expressions are evaluated without eval()."""

from __future__ import annotations

import pytest

from broker.errors import BadRequest
from broker.expressions import evaluate_delay_ms


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
