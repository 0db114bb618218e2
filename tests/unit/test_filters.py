"""List filters: repeated and comma-separated values, OR within a key, AND across keys."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from broker.errors import BadRequest
from broker.http.filters import filter_from_body, filter_from_query

EVENT = {"messageId": "m1", "state": "RETRY", "url": "https://a.io/x/y", "labels": ["a", "b"]}


def test_or_within_a_key_and_across_keys() -> None:
    """label=z&label=b matches (b); adding a non-matching url fails the whole filter."""
    assert filter_from_query(MultiDict([("label", "z"), ("label", "b")])).matches(EVENT, 5)
    both = MultiDict([("label", "z,b"), ("url", "https://other.io")])
    assert not filter_from_query(both).matches(EVENT, 5)


def test_in_progress_and_cancelled_spelling() -> None:
    """IN_PROGRESS covers ACTIVE, RETRY and ERROR; CANCELLED means CANCELED."""
    assert filter_from_query(MultiDict(state="IN_PROGRESS")).matches(EVENT, 0)
    canceled = filter_from_query(MultiDict(state="CANCELLED"))
    assert canceled.matches({"state": "CANCELED"}, 0)


def test_host_path_and_time_window() -> None:
    """host/path compare against the URL; fromDate/toDate are inclusive milliseconds."""
    assert filter_from_query(MultiDict(host="a.io", path="/x/y")).matches(EVENT, 0)
    window = filter_from_body({"fromDate": 10, "toDate": 20})
    assert [window.matches(EVENT, t) for t in (9, 10, 20, 21)] == [False, True, True, False]


def test_host_with_or_without_port_in_any_case_and_the_root_path() -> None:
    """host matches the lower-case host with or without its port (IPv6 in brackets); an URL
    without a path has the path `/`."""
    item = {"url": "https://API.example:8443"}
    for host in ("api.example", "API.Example:8443"):
        assert filter_from_query(MultiDict(host=host, path="/")).matches(item, 0)
    assert not filter_from_query(MultiDict(host="api.example:1")).matches(item, 0)
    ipv6 = {"url": "http://user@[::1]:8080/x"}
    assert filter_from_query(MultiDict([("host", "::1"), ("host", "[::1]:8080")])).matches(ipv6, 0)
    assert filter_from_query(MultiDict(host="[::1]:8080")).matches(ipv6, 0)


def test_paging_keys_do_not_filter() -> None:
    """count and cursor select nothing, so the filter stays empty."""
    assert filter_from_query(MultiDict(count="100", cursor="x")).empty


def test_bad_dates() -> None:
    """A non-numeric date is a 400."""
    with pytest.raises(BadRequest, match="fromDate"):
        filter_from_query(MultiDict(fromDate="yesterday"))
