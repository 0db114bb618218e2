"""Key names and ids: every key of a message derives from its id, in one hash slot."""

from __future__ import annotations

from collections import Counter

import pytest
from redis.crc import key_slot

from broker.queue.keys import (
    PartitionKeys,
    dlq_id,
    keys_for,
    new_message_id,
    parse_dlq_id,
    partition_keys,
    partition_of,
    tick_of,
    ulid,
)


def test_message_ids_carry_their_partition() -> None:
    """A new id names its partition and tag, and all its keys share that tag."""
    partition = partition_keys(5, 8)
    message_id = new_message_id(partition)
    assert message_id.startswith(f"msg_5.{partition.salt}_")
    assert partition_of(message_id) == 5
    keys = keys_for(message_id)
    assert keys == partition
    tags = {key.split("}")[0] + "}" for key in (keys.ready, keys.delayed, keys.message(message_id))}
    assert tags == {f"{{hs:5.{partition.salt}}}"}


def test_ids_of_the_first_layout_still_name_their_keys() -> None:
    """`msg_<p>_<ulid>` (no salt) maps to the old `{hs:<p>}` keys."""
    keys = keys_for("msg_3_01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert keys == PartitionKeys(3)
    assert keys.ready == "{hs:3}:ready"


@pytest.mark.parametrize("partitions", [1, 2, 3, 4, 6, 12, 48, 96])
def test_partition_p_hashes_into_slot_range_p(partitions: int) -> None:
    """Each partition's tag lies in the middle half of its share of the 16384 slots."""
    for p in range(partitions):
        slot = key_slot(partition_keys(p, partitions).ready.encode())
        start, end = p * 16384 // partitions, (p + 1) * 16384 // partitions
        quarter = (end - start) // 4
        assert start + quarter <= slot < end - quarter


@pytest.mark.parametrize("masters", [1, 2, 3, 4, 6, 8, 12, 16, 24, 48])
def test_48_partitions_spread_evenly_over_masters(masters: int) -> None:
    """On masters holding even, contiguous slot ranges (valkey-cli's rounding: the nearest
    slot), every master gets 48/masters partitions."""
    ends = [round((i + 1) * 16384 / masters) - 1 for i in range(masters)]
    owner = Counter(
        next(i for i, end in enumerate(ends) if key_slot(partition_keys(p, 48).tag.encode()) <= end)
        for p in range(48)
    )
    assert sorted(owner.values()) == [48 // masters] * masters


def test_the_first_layout_spread_badly() -> None:
    """Negative control: the `{hs:N}` tags put 8 of 12 partitions on one of 3 masters."""
    ends = [5460, 10922, 16383]
    owner = Counter(
        next(i for i, end in enumerate(ends) if key_slot(PartitionKeys(p).tag.encode()) <= end)
        for p in range(12)
    )
    assert max(owner.values()) == 8


def test_ids_are_unique_and_time_ordered() -> None:
    """ULIDs sort by creation time and never repeat."""
    ids = [new_message_id(partition_keys(0, 1)) for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert ids[0][:12] <= ids[-1][:12]


@pytest.mark.parametrize(
    "bad", ["garbage", "msg_x_ABC", "msg_1_", "scd_1_ABC", "msg_1._ABC", "msg_1.x_ABC",
            "msg_1.1234567_ABC", "msg_123456_ABC"]
)  # fmt: skip
def test_foreign_message_ids_are_refused(bad: str) -> None:
    """Ids we never issued do not map to keys."""
    with pytest.raises(ValueError, match="not a message id"):
        partition_of(bad)


def test_dlq_ids_round_trip() -> None:
    """The public DLQ id keeps the stream id and adds the partition."""
    public = dlq_id("1725323658779-0", 3)
    assert public == "1725323658779-0-3"
    assert parse_dlq_id(public) == (3, "1725323658779-0")


# Past 64 bits, or digits Python reads but Redis does not (found by fuzzing: Redis answered
# "Invalid stream ID" and the API a 500).
@pytest.mark.parametrize(
    "bad",
    [
        "1725323658779-0",
        "a-b-c",
        "1-2-3-4",
        "",
        "18446744073709551616-0-0",
        "1-\u0663-0",
        "1-0-\u00b2",
    ],
)
def test_foreign_dlq_ids_are_refused(bad: str) -> None:
    """Anything but stream id + partition is not a DLQ id."""
    with pytest.raises(ValueError, match="not a dlq id"):
        parse_dlq_id(bad)


def test_the_largest_stream_id_is_a_dlq_id() -> None:
    """Both halves at 2^64 - 1 still parse: the bound is Redis's, not smaller."""
    top = str(2**64 - 1)
    assert parse_dlq_id(f"{top}-{top}-1") == (1, f"{top}-{top}")


def test_hookstream_partitions_prints_every_ready_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The operator's list of stream names is the code's, one line per partition."""
    from broker.settings import Settings
    from hookstream.cli import print_partitions

    print_partitions(Settings(partitions=3))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{p} {partition_keys(p, 3).ready}" for p in range(3)]


def _ulid_by_division(ms: int, entropy: bytes) -> str:
    """The ULID spelling digit by digit, the way the spec writes it: the reference."""
    value, digits = (ms << 80) | int.from_bytes(entropy, "big"), ""
    for _ in range(26):
        value, digit = divmod(value, 32)
        digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[digit] + digits
    return digits


@pytest.mark.parametrize(
    ("ms", "entropy"),
    [
        (0, bytes(10)),
        (2**48 - 1, b"\xff" * 10),
        (1, bytes(9) + b"\x01"),
        (1764620000000, b"hookstream"),
    ],
)
def test_ulid_spells_time_and_entropy_like_the_spec(ms: int, entropy: bytes) -> None:
    """The two-digits-at-a-time encoding gives the spec's 26 digits, and the time reads back."""
    assert ulid(ms, entropy) == _ulid_by_division(ms, entropy)
    assert tick_of(f"msg_0_{ulid(ms, entropy)}") == ms


def test_ulid_known_value() -> None:
    """A fixed vector: all-ones entropy at time 0."""
    assert ulid(0, b"\xff" * 10) == "0000000000ZZZZZZZZZZZZZZZZ"
