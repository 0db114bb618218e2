"""Key names and ids: every key of a message derives from its id, in one hash slot."""

from __future__ import annotations

import pytest

from broker.queue.keys import dlq_id, keys_for, new_message_id, parse_dlq_id, partition_of


def test_message_ids_carry_their_partition() -> None:
    """A new id names its partition and all its keys share that partition's hash tag."""
    message_id = new_message_id(8, 5)
    assert message_id.startswith("msg_5_")
    assert partition_of(message_id) == 5
    keys = keys_for(message_id)
    tags = {key.split("}")[0] + "}" for key in (keys.ready, keys.delayed, keys.message(message_id))}
    assert tags == {"{hs:5}"}


def test_ids_are_unique_and_time_ordered() -> None:
    """ULIDs sort by creation time and never repeat."""
    ids = [new_message_id(1, 0) for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert ids[0][:12] <= ids[-1][:12]


@pytest.mark.parametrize("bad", ["garbage", "msg_x_ABC", "msg_1_", "scd_1_ABC"])
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
