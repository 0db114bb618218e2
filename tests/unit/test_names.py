"""The name table: what each kind of name accepts and how a refusal reads."""

from __future__ import annotations

import pytest

from broker.errors import BadRequest
from broker.queue.names import RULES, Kind, check_name


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("queue", "orders.v2_EU-1"),
        ("queue", "q" * 128),
        ("url_group", "python_url_group"),
        ("endpoint", "two"),
        ("schedule_id", "scd_01HZY5V4X7"),
        ("flow_control_key", "USER_GIVEN_KEY"),
        ("flow_control_key", "user@example.com"),
        ("flow_control_key", "api.openai.com|gpt-4o"),
        ("flow_control_key", "k" * 256),
        ("label", "env:prod"),
        ("label", "nightly report"),
        ("label", "{team}"),
    ],
)
def test_accepted(kind: Kind, value: str) -> None:
    """Names in the documented alphabet, and free-form keys and labels the SDKs may send."""
    assert check_name(kind, value) == value


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("queue", ""),
        ("queue", "q" * 129),
        ("queue", "a:b"),
        ("url_group", "g roup"),
        ("url_group", "{hs:0}"),
        ("endpoint", "first one"),
        ("schedule_id", "a/b"),
        ("flow_control_key", "tenant:1"),
        ("flow_control_key", "{tag}"),
        ("flow_control_key", "a b"),
        ("flow_control_key", "a/b"),
        ("flow_control_key", "a?b"),
        ("flow_control_key", "50%"),
        ("flow_control_key", "a,b"),
        ("flow_control_key", "k" * 257),
        ("flow_control_key", "café"),
        ("label", "a,b"),
        ("label", " padded"),
        ("label", "tab\there"),
        ("label", "l" * 257),
    ],
)
def test_refused(kind: Kind, value: str) -> None:
    """Separators, hash-tag braces, whitespace, path characters and overlong values."""
    with pytest.raises(BadRequest, match=f"^invalid {RULES[kind].field} "):
        check_name(kind, value)


def test_refusal_names_the_given_field_and_shortens_the_value() -> None:
    """The message names the header or body key it came from and shows at most 64 characters."""
    with pytest.raises(BadRequest) as raised:
        check_name("queue", "q" * 200, "Upstash-Queue-Name")
    message = str(raised.value)
    assert message.startswith(f"invalid Upstash-Queue-Name '{'q' * 64}'...: ")
    assert message.endswith("use 1 to 128 letters, digits, '-', '_' or '.'")


def test_key_part_rules_have_no_separator_or_hash_tag() -> None:
    """No kind that becomes part of a Redis key accepts ':', '{', '}' or whitespace."""
    for kind, rule in RULES.items():
        if kind != "label":
            for char in ":{} \t":
                assert not rule.pattern.fullmatch(f"a{char}b"), (kind, char)
