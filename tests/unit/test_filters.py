"""List filters: repeated and comma-separated values, OR within a key, AND across keys."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from broker.errors import BadRequest
from broker.http.filters import bulk_selection, filter_from_pairs, list_filter

EVENT = {"messageId": "m1", "state": "RETRY", "url": "https://a.io/x/y", "labels": ["a", "b"]}


def test_or_within_a_key_and_across_keys() -> None:
    """label=z&label=b matches (b); adding a non-matching url fails the whole filter."""
    assert list_filter(MultiDict([("label", "z"), ("label", "b")]), "messageIds").matches(EVENT, 5)
    both = MultiDict([("label", "z,b"), ("url", "https://other.io")])
    assert not list_filter(both, "messageIds").matches(EVENT, 5)


def test_in_progress_and_cancelled_spelling() -> None:
    """IN_PROGRESS covers ACTIVE, RETRY and ERROR; CANCELLED means CANCELED."""
    assert list_filter(MultiDict(state="IN_PROGRESS"), "messageIds").matches(EVENT, 0)
    canceled = list_filter(MultiDict(state="CANCELLED"), "messageIds")
    assert canceled.matches({"state": "CANCELED"}, 0)


def test_host_path_and_time_window() -> None:
    """host/path compare against the URL; fromDate/toDate are inclusive milliseconds."""
    assert list_filter(MultiDict(host="a.io", path="/x/y"), "messageIds").matches(EVENT, 0)
    window = filter_from_pairs([("fromDate", 10), ("toDate", 20)])
    assert [window.matches(EVENT, t) for t in (9, 10, 20, 21)] == [False, True, True, False]


def test_host_with_or_without_port_in_any_case_and_the_root_path() -> None:
    """host matches the lower-case host with or without its port (IPv6 in brackets); an URL
    without a path has the path `/`."""
    item = {"url": "https://API.example:8443"}
    for host in ("api.example", "API.Example:8443"):
        assert list_filter(MultiDict(host=host, path="/"), "messageIds").matches(item, 0)
    assert not list_filter(MultiDict(host="api.example:1"), "messageIds").matches(item, 0)
    ipv6 = {"url": "http://user@[::1]:8080/x"}
    assert list_filter(MultiDict([("host", "::1"), ("host", "[::1]:8080")]), "messageIds").matches(
        ipv6, 0
    )
    assert list_filter(MultiDict(host="[::1]:8080"), "messageIds").matches(ipv6, 0)


def test_paging_keys_do_not_filter() -> None:
    """count, cursor, order, trimBody and the token parameter select nothing."""
    paging = MultiDict(
        count="100", cursor="x", order="earliestFirst", trimBody="9", qstash_token="t"
    )
    assert list_filter(paging, "messageIds").empty


@pytest.mark.parametrize(
    ("key", "ids_key"), [("labeel", "messageIds"), ("ids", "dlqIds"), ("dlqIds", "messageIds")]
)
def test_lists_refuse_unknown_keys(key: str, ids_key: str) -> None:
    """A key a list does not know is a 400 naming it, never a filter dropped; dlqIds are no
    filter of the log."""
    with pytest.raises(BadRequest, match=f"unknown parameter '{key}'"):
        list_filter(MultiDict([("label", "a"), (key, "x")]), ids_key)
    assert not list_filter(MultiDict(dlqIds="1-0-0"), "dlqIds").empty


def test_bad_dates() -> None:
    """A non-numeric date is a 400."""
    with pytest.raises(BadRequest, match="fromDate"):
        list_filter(MultiDict(fromDate="yesterday"), "messageIds")


def test_bulk_selection_reads_both_wire_forms() -> None:
    """Query ids (repeated or comma-separated) or body ids; filters flat or under `filter`;
    paging keys and the token parameter select nothing, so they mean "all"."""
    query = MultiDict([("messageIds", "a,b"), ("messageIds", "c"), ("count", "100")])
    assert bulk_selection(query, None, "messageIds").ids == ("a", "b", "c")
    assert bulk_selection(MultiDict(), {"messageIds": []}, "messageIds").ids == ()
    nested = bulk_selection(MultiDict(), {"filter": {"label": ["b"]}}, "messageIds")
    assert nested.ids is None
    assert nested.wanted.matches(EVENT, 0)
    everything = bulk_selection(MultiDict(count="1", cursor="c", qstash_token="t"), None, "dlqIds")
    assert everything.ids is None
    assert everything.wanted.empty
    dated = bulk_selection(MultiDict(), {"fromDate": 10, "toDate": "20"}, "dlqIds").wanted
    assert [dated.matches(EVENT, t) for t in (9, 15, 21)] == [False, True, False]


@pytest.mark.parametrize(
    ("query", "body", "error"),
    [
        ([("messageIds", "")], None, "messageIds is empty"),
        ([("label", " , ")], None, "label is empty"),
        ([("labeel", "x")], None, "unknown parameter 'labeel'"),
        ([("dlqIds", "x")], None, "unknown parameter 'dlqIds'"),
        ([], {}, "selects nothing"),
        ([], {"ids": ["x"]}, "unknown field 'ids'"),
        ([], {"filter": {"labeel": "x"}}, "unknown field 'labeel'"),
        ([], {"filter": []}, "filter must be an object"),
        ([], {"messageIds": [["a"]]}, "messageIds must be a string"),
        ([], {"label": True}, "label must be a string"),
        ([("label", "a")], {"messageIds": ["x"]}, "not both"),
    ],
)
def test_bulk_selection_refuses_what_could_widen(
    query: list[tuple[str, str]], body: dict | None, error: str
) -> None:
    with pytest.raises(BadRequest, match=error):
        bulk_selection(MultiDict(query), body, "messageIds")
