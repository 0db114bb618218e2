"""Safe evaluation of `Upstash-Retry-Delay` expressions such as `pow(2, retried) * 1000`.

The expression is parsed with `ast` and only numbers, the variable `retried`, arithmetic and a
fixed set of math functions are allowed: never `eval`.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import cast

from broker.errors import BadRequest

_FUNCTIONS: dict[str, Callable[..., float]] = {
    "pow": math.pow,
    "sqrt": math.sqrt,
    "abs": abs,
    "exp": math.exp,
    "floor": math.floor,
    "ceil": math.ceil,
    "round": round,
    "min": min,
    "max": max,
}
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_MAX_LENGTH = 256


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> ast.Expression:
    """Parse and check an expression; BadRequest names what is not allowed."""
    if len(text) > _MAX_LENGTH:
        raise BadRequest(f"Upstash-Retry-Delay is longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise BadRequest(f"invalid Upstash-Retry-Delay expression: {text!r}") from None
    for node in ast.walk(tree):
        _check_node(node, text)
    return tree


def _check_node(node: ast.AST, text: str) -> None:
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.USub, ast.UAdd, ast.Load, ast.Call)
    if isinstance(node, allowed) or type(node) in _BINARY:
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords
        ):
            raise BadRequest(f"Upstash-Retry-Delay: unknown function in {text!r}")
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return
    if isinstance(node, ast.Name) and (node.id == "retried" or node.id in _FUNCTIONS):
        return
    raise BadRequest(f"Upstash-Retry-Delay: {type(node).__name__} is not allowed in {text!r}")


def check_delays(text: str, retries: int, header: str) -> None:
    """At publish: the expression gives a finite delay of at least 0 ms for every retry the
    message can have (`retried` = 0 .. retries - 1), else BadRequest naming the first that
    does not. The worker clamps what it evaluates, so a bad result would otherwise silently
    become "retry at once"."""
    tree = compile_expression(text)
    for retried in range(max(retries, 1)):
        value = _evaluate(tree.body, retried)
        if not math.isfinite(value) or value < 0:
            shown = "no finite number" if not math.isfinite(value) else f"{value:g} ms"
            raise BadRequest(
                f"{header}: {text.strip()!r} gives {shown} for retried={retried}; "
                "each retry's delay must be a finite number of ms, at least 0"
            )


def evaluate_delay_ms(text: str, retried: int) -> int:
    """The delay in ms for retry number `retried` (0 for the first retry), never negative
    (messages published before check_delays existed may still hold such expressions)."""
    value = _evaluate(compile_expression(text).body, retried)
    if not math.isfinite(value):
        return 0
    return max(0, int(value))


def _evaluate(node: ast.expr, retried: int) -> float:
    match node:
        case ast.Constant(value=value):
            return float(cast(float, value))  # _check_node lets only int and float constants in
        case ast.Name(id="retried"):
            return float(retried)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_evaluate(operand, retried)
        case ast.UnaryOp(operand=operand):
            return _evaluate(operand, retried)
        case ast.BinOp(left=left, op=op, right=right):
            try:
                value = _BINARY[type(op)](_evaluate(left, retried), _evaluate(right, retried))
            except (ZeroDivisionError, OverflowError):
                return math.inf
            return value if isinstance(value, float) else math.nan  # (-1) ** 0.5 is complex
        case ast.Call(func=ast.Name(id=name), args=args):
            try:
                return float(_FUNCTIONS[name](*(_evaluate(a, retried) for a in args)))
            except (ValueError, TypeError, OverflowError):
                return math.inf
    raise BadRequest("unsupported expression")  # unreachable after compile_expression
