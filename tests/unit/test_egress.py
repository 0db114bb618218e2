"""The destination policy (broker/egress.py) and its worker-side hooks (workers/egress.py).

Tables first: every address class in IPv4 and IPv6 spellings, the embedded-IPv4 forms, the odd
IPv4 spellings, localhost names, URLs, dev mode and the allow-list. No socket is opened here;
tests/integration/test_egress_connect.py connects for real.
"""

from __future__ import annotations

import errno
import random
import socket
from ipaddress import IPv4Address, ip_address

import aiohttp
import pytest

from broker.egress import (
    SETTING,
    AddressClass,
    AllowList,
    DestinationPolicy,
    classify,
    literal_address,
    spelling_reason,
)
from broker.errors import BadRequest
from tests.support.dns import FakeResolver
from workers.egress import (
    DestinationRefused,
    PolicyResolver,
    VouchedAddresses,
    guarded_socket_factory,
    make_connector,
    refusal_reason,
)

C = AddressClass
# Written with escapes: U+FF4C... are the fullwidth forms, which IDNA maps to ASCII letters.
FULLWIDTH_LOCALHOST = "".join(chr(ord(letter) + 0xFEE0) for letter in "localhost")
STRICT = DestinationPolicy()
DEV = DestinationPolicy(dev=True)

# (address, class); None means an ordinary global address.
CLASSES = [
    # IPv4
    ("0.0.0.0", C.UNSPECIFIED),
    ("0.1.2.3", C.RESERVED),
    ("10.0.0.1", C.PRIVATE),
    ("10.255.255.255", C.PRIVATE),
    ("172.16.0.1", C.PRIVATE),
    ("172.31.255.254", C.PRIVATE),
    ("172.32.0.1", None),
    ("192.168.1.1", C.PRIVATE),
    ("100.64.0.1", C.CGNAT),
    ("100.127.255.254", C.CGNAT),
    ("100.128.0.1", None),
    ("100.100.100.200", C.METADATA),
    ("127.0.0.1", C.LOOPBACK),
    ("127.255.255.254", C.LOOPBACK),
    ("169.254.0.1", C.LINK_LOCAL),
    ("169.254.169.254", C.METADATA),
    ("169.254.170.2", C.METADATA),
    ("169.254.170.23", C.METADATA),
    ("192.0.0.8", C.RESERVED),
    ("192.0.2.1", C.RESERVED),
    ("198.51.100.1", C.RESERVED),
    ("203.0.113.1", C.RESERVED),
    ("192.88.99.1", C.RESERVED),
    ("198.18.0.1", C.RESERVED),
    ("198.19.255.254", C.RESERVED),
    ("224.0.0.1", C.MULTICAST),
    ("239.255.255.250", C.MULTICAST),
    ("240.0.0.1", C.RESERVED),
    ("255.255.255.254", C.RESERVED),
    ("255.255.255.255", C.BROADCAST),
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("93.184.215.14", None),
    # IPv6
    ("::", C.UNSPECIFIED),
    ("::1", C.LOOPBACK),
    ("fc00::1", C.PRIVATE),
    ("fd12:3456::1", C.PRIVATE),
    ("fec0::1", C.PRIVATE),
    ("64:ff9b:1::1", C.PRIVATE),
    ("fe80::1", C.LINK_LOCAL),
    ("febf::1", C.LINK_LOCAL),
    ("fd00:ec2::254", C.METADATA),
    ("fd00:ec2::23", C.METADATA),
    ("ff02::1", C.MULTICAST),
    ("ff05::1:3", C.MULTICAST),
    ("100::1", C.RESERVED),
    ("2001::1", C.RESERVED),  # Teredo
    ("2001:db8::1", C.RESERVED),
    ("3fff::1", C.RESERVED),
    ("5f00::1", C.RESERVED),
    ("4000::1", C.RESERVED),
    ("::ffff:0:808:808", C.RESERVED),  # IPv4-translated, outside 2000::/3
    ("2001:4860:4860::8888", None),
    ("2606:4700:4700::1111", None),
    # IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms are judged by their IPv4 address.
    ("::ffff:127.0.0.1", C.LOOPBACK),
    ("::ffff:10.1.2.3", C.PRIVATE),
    ("::ffff:169.254.169.254", C.METADATA),
    ("::ffff:0.0.0.0", C.UNSPECIFIED),
    ("::ffff:8.8.8.8", None),
    ("::127.0.0.1", C.LOOPBACK),
    ("::10.0.0.1", C.PRIVATE),
    ("::8.8.8.8", C.RESERVED),  # deprecated compatible form, even around a global address
    ("64:ff9b::127.0.0.1", C.LOOPBACK),
    ("64:ff9b::a9fe:a9fe", C.METADATA),
    ("64:ff9b::c0a8:101", C.PRIVATE),
    ("64:ff9b::8.8.8.8", None),  # NAT64 to a public address: how IPv6-only clusters egress
    ("2002:7f00:1::", C.LOOPBACK),
    ("2002:a9fe:a9fe::1", C.METADATA),
    ("2002:808:808::1", None),
]


@pytest.mark.parametrize(("address", "expected"), CLASSES)
def test_classify(address: str, expected: AddressClass | None) -> None:
    found = classify(ip_address(address))
    assert (found.kind if found else None) == expected


@pytest.mark.parametrize(("address", "expected"), CLASSES)
def test_strict_policy_denies_every_special_class(
    address: str, expected: AddressClass | None
) -> None:
    reason = STRICT.check_address(address)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert reason.startswith(f"destination {ip_address(address)}")


def test_refusal_names_the_class_and_the_setting() -> None:
    assert STRICT.check_address("10.1.2.3") == (
        "destination 10.1.2.3 is a private address (RFC 1918); "
        "allow it with HOOKSTREAM_ALLOWED_DESTINATIONS"
    )


def test_refusal_of_an_embedded_address_names_both() -> None:
    reason = STRICT.check_address("::ffff:10.1.2.3")
    assert reason is not None
    assert "(IPv4 10.1.2.3)" in reason
    assert "private address (RFC 1918)" in reason


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"])
def test_metadata_refusal_offers_no_setting(address: str) -> None:
    reason = STRICT.check_address(address)
    assert reason is not None
    assert reason.endswith("it is never allowed")
    assert SETTING not in reason


def test_addresses_with_an_ipv6_zone_are_judged_without_it() -> None:
    assert STRICT.check_address("fe80::1%eth0") is not None
    assert STRICT.check_address("not-an-ip") == "destination 'not-an-ip' is not an IP address"


# (host, address it denotes, canonical?)
SPELLINGS = [
    ("127.0.0.1", "127.0.0.1", True),
    ("0x7f000001", "127.0.0.1", False),
    ("0x7F000001", "127.0.0.1", False),
    ("0x7f.0.0.1", "127.0.0.1", False),
    ("0x7f.1", "127.0.0.1", False),
    ("2130706433", "127.0.0.1", False),
    ("017700000001", "127.0.0.1", False),
    ("127.1", "127.0.0.1", False),
    ("127.0.1", "127.0.0.1", False),
    ("0177.0.0.1", "127.0.0.1", False),
    ("0177.0.0.01", "127.0.0.1", False),
    ("127.0.0.1.", "127.0.0.1", False),
    ("0", "0.0.0.0", False),
    ("0x", "0.0.0.0", False),
    ("10.0x10203", "10.1.2.3", False),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254", False),
    ("2852039166", "169.254.169.254", False),
    ("0x08080808", "8.8.8.8", False),
    ("::1", "::1", True),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1", True),
]


@pytest.mark.parametrize(("host", "address", "canonical"), SPELLINGS)
def test_odd_ipv4_spellings_are_normalised_like_inet_aton(
    host: str, address: str, canonical: bool
) -> None:
    literal = literal_address(host.lower().rstrip("."))
    assert literal is not None
    assert literal[0] == ip_address(address)
    if canonical:
        assert literal[1]
        assert STRICT.check_host(host) == STRICT.check_address(address)
    else:
        reason = STRICT.check_host(host)
        assert reason == spelling_reason(host)
        assert reason is not None
        assert f"non-canonical spelling of {ip_address(address)}" in reason


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("0x7f000001", "127.0.0.1, a loopback address"),
        ("2852039166", "169.254.169.254, a cloud metadata address"),
        ("0x08080808", "8.8.8.8; write it as 8.8.8.8"),
    ],
)
def test_odd_spellings_are_refused_even_in_dev_and_name_the_class(host: str, words: str) -> None:
    """aiohttp refuses most of them anyway; the reason still says what they point at."""
    for policy in (STRICT, DEV, DestinationPolicy.from_setting("0.0.0.0/0")):
        reason = policy.check_host(host)
        assert reason is not None
        assert words in reason


@pytest.mark.parametrize(
    "host",
    ["1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1.2.3.256", "1.2.16777216", "4294967296", "08.1.1.1"],
)
def test_numeric_hosts_that_are_no_address_are_invalid(host: str) -> None:
    with pytest.raises(ValueError, match=r"IPv4|range"):
        literal_address(host)
    assert STRICT.check_host(host) == (
        f"destination host {host!r} is not a valid host name or address"
    )


@pytest.mark.parametrize("host", ["example.123", "1_0.0.0.1", "+1.0.0.1", "1..1"])
def test_hosts_ending_in_a_number_must_be_addresses(host: str) -> None:
    """The WHATWG rule: int() would take `1_0` and `+1`, our parser does not."""
    reason = STRICT.check_host(host)
    assert reason is not None
    assert "not a valid host name or address" in reason


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("localhost.", True),
        ("localhost..", True),
        ("api.localhost", True),
        ("a.b.localhost", True),
        ("localhost.localdomain", True),
        ("ip6-localhost", True),
        ("ip6-loopback", True),
        (FULLWIDTH_LOCALHOST, True),  # IDNA maps it to localhost
        ("metadata.google.internal", True),
        ("notlocalhost", False),
        ("localhost.example.com", False),
        ("example.com", False),
        ("my_service.internal", False),
        ("xn--e1afmkfd.xn--p1ai", False),
        ("пример.рф", False),
    ],
)
def test_names(host: str, refused: bool) -> None:
    assert (STRICT.check_host(host) is not None) == refused


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("%31%32%37.0.0.1", "it decodes to 127.0.0.1, a loopback address"),
        ("%65xample.com", "it decodes to 'example.com'"),
        ("exa mple.com", "not a valid host name"),
        ("a" * 64 + ".com", "not a valid host name"),
        (".example.com", "not a valid host name"),
        ("[::1]", "not a valid host name"),
    ],
)
def test_unreachable_host_spellings_are_refused(host: str, fragment: str) -> None:
    """getaddrinfo never percent-decodes: such hosts are refused, naming what they hide."""
    for policy in (STRICT, DEV):
        reason = policy.check_host(host)
        assert reason is not None
        assert fragment in reason


# (url, fragment of the refusal or None when allowed) under the strict policy.
URLS = [
    ("https://example.com/hook", None),
    ("http://example.com:8080/a?b=c#d", None),
    ("http://8.8.8.8/", None),
    ("http://[2001:4860:4860::8888]:443/", None),
    ("https://пример.рф/", None),
    ("http://10.1.2.3/", "private address (RFC 1918)"),
    ("http://127.0.0.1:8080/", "loopback address"),
    ("http://127.0.0.1.:8080/", "non-canonical spelling of 127.0.0.1"),
    ("http://0x7f000001:8080/", "non-canonical spelling of 127.0.0.1, a loopback"),
    ("http://2130706433/", "non-canonical spelling of 127.0.0.1"),
    ("http://127.1/", "non-canonical spelling of 127.0.0.1"),
    ("http://0177.0.0.1/", "non-canonical spelling of 127.0.0.1"),
    ("http://[::1]:8080/", "loopback address"),
    ("http://[::ffff:127.0.0.1]/", "(IPv4 127.0.0.1) is a loopback"),
    ("http://[::FFFF:7F00:1]/", "(IPv4 127.0.0.1) is a loopback"),
    ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://[fd00:ec2::254]/latest/", "cloud metadata"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://100.100.100.200/", "cloud metadata"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://0.0.0.0:8080/", "unspecified"),
    ("http://[::]:8080/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://localhost:8080/", "loopback name"),
    ("http://LOCALHOST./", "loopback name"),
    ("http://api.localhost/", "loopback name"),
    (f"http://{FULLWIDTH_LOCALHOST}/", "loopback name"),
    ("http://127\u30020\u30020\u30021/", "loopback address"),  # ideographic full stops
    ("http://user:pw@10.0.0.1/", "private address"),
    ("http://example.com@127.0.0.1/", "loopback address"),
    ("http://a@b@127.0.0.1/", "loopback address"),
    ("http://%31%32%37.0.0.1/", "it decodes to 127.0.0.1"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata name"),
    ("http://example.com\\@127.0.0.1/", "valid host"),
    ("http://[127.0.0.1]/", "valid host"),
    ("http://[::1/", "valid host"),
    ("http://example.com:99999/", "valid host"),
    ("http:///path", "valid host"),
    ("ftp://example.com/", "http(s) URL"),
    ("/relative/path", "http(s) URL"),
    ("", "http(s) URL"),
]


@pytest.mark.parametrize(("url", "fragment"), URLS)
def test_check_url(url: str, fragment: str | None) -> None:
    if fragment is None:
        STRICT.check_url(url)
        return
    with pytest.raises(BadRequest) as caught:
        STRICT.check_url(url)
    assert fragment in str(caught.value)


# Dev mode: loopback and private ranges work for local receivers; the rest stays denied.
DEV_CASES = [
    ("http://127.0.0.1:8080/", True),
    ("http://localhost:8080/", True),
    ("http://[::1]:8080/", True),
    ("http://10.1.2.3/", True),
    ("http://192.168.1.10/", True),
    ("http://172.20.0.5/", True),
    ("http://[fd12::1]/", True),
    ("http://[::ffff:127.0.0.1]/", True),
    ("http://169.254.169.254/", False),
    ("http://[fd00:ec2::254]/", False),
    ("http://100.100.100.200/", False),
    ("http://169.254.1.1/", False),
    ("http://[fe80::1]/", False),
    ("http://0.0.0.0/", False),
    ("http://100.64.0.1/", False),
    ("http://224.0.0.1/", False),
    ("http://0x7f000001/", False),
]


@pytest.mark.parametrize(("url", "allowed"), DEV_CASES)
def test_dev_mode(url: str, allowed: bool) -> None:
    if allowed:
        DEV.check_url(url)
    else:
        with pytest.raises(BadRequest):
            DEV.check_url(url)


ALLOW = DestinationPolicy.from_setting(
    " 10.0.0.0/8, 2001:db8:1::/48 ,192.168.5.7, .svc.cluster.local, Internal.Example., "
    "*.corp.test,,localhost"
)


@pytest.mark.parametrize(
    ("ip", "host", "allowed"),
    [
        ("10.1.2.3", None, True),
        ("::ffff:10.1.2.3", None, True),  # the mapped form of an allowed address
        ("64:ff9b::a01:203", None, True),  # the NAT64 form too
        ("192.168.5.7", None, True),
        ("192.168.5.8", None, False),
        ("2001:db8:1::5", None, True),
        ("2001:db8:2::5", None, False),
        ("172.16.0.1", None, False),
        ("172.16.0.1", "api.ns.svc.cluster.local", True),
        ("172.16.0.1", "svc.cluster.local", False),  # a suffix names the names below it
        ("172.16.0.1", "evilsvc.cluster.local", False),
        ("172.16.0.1", "internal.example", True),
        ("172.16.0.1", "INTERNAL.example.", True),
        ("172.16.0.1", "x.internal.example", False),
        ("172.16.0.1", "a.corp.test", True),
        ("127.0.0.1", "localhost", True),
        ("169.254.169.254", "api.ns.svc.cluster.local", False),  # metadata: never
        ("fd00:ec2::254", "internal.example", False),
    ],
)
def test_allow_list(ip: str, host: str | None, allowed: bool) -> None:
    assert (ALLOW.check_address(ip, host=host) is None) == allowed


def test_allow_list_names_and_cidrs_at_the_ingress() -> None:
    ALLOW.check_url("http://10.9.9.9/")
    ALLOW.check_url("http://[::ffff:10.9.9.9]/")
    ALLOW.check_url("http://localhost:8080/")
    with pytest.raises(BadRequest):
        ALLOW.check_url("http://172.16.0.1/")


def test_no_allow_list_entry_opens_metadata() -> None:
    wide = DestinationPolicy.from_setting("0.0.0.0/0,::/0,169.254.0.0/16,metadata.google.internal")
    assert wide.check_address("10.0.0.1") is None
    assert wide.check_address("169.254.1.1") is None
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "::ffff:a9fe:a9fe"):
        assert wide.check_address(address) is not None
    with pytest.raises(BadRequest, match="never allowed"):
        wide.check_url("http://metadata.google.internal/")


def test_an_allowed_loopback_address_allows_the_localhost_name() -> None:
    DestinationPolicy.from_setting("127.0.0.1/32").check_url("http://localhost:8080/")
    DestinationPolicy.from_setting("::1/128").check_url("http://localhost:8080/")


@pytest.mark.parametrize(
    "value", ["10.1.2.3/8", "300.1.1.1", "127.1", "10.0.0.0/33", "bad name", "*.", ".", "a..b"]
)
def test_bad_allow_list_entries_are_config_errors(value: str) -> None:
    with pytest.raises(ValueError, match=SETTING):
        AllowList.parse(value)


def test_allow_list_parsing() -> None:
    parsed = AllowList.parse("10.0.0.0/8,fd00::/8, .Svc.Cluster.Local.,Api.Example,*.corp")
    assert [str(n) for n in parsed.networks] == ["10.0.0.0/8", "fd00::/8"]
    assert parsed.names == frozenset({"api.example"})
    assert parsed.suffixes == (".svc.cluster.local", ".corp")
    assert AllowList.parse("") == AllowList()


def test_policy_is_frozen() -> None:
    with pytest.raises(AttributeError):
        STRICT.dev = True  # type: ignore[misc]


# Worker side, without sockets: the resolver's filtering and the refusal plumbing.


async def test_resolver_drops_denied_addresses() -> None:
    base = FakeResolver({"mixed.test": ["10.0.0.1", "8.8.8.8", "169.254.169.254", "1.1.1.1"]})
    answers = await PolicyResolver(STRICT, base).resolve("mixed.test", 443)
    assert [a["host"] for a in answers] == ["8.8.8.8", "1.1.1.1"]


async def test_resolver_refuses_when_nothing_is_left() -> None:
    base = FakeResolver({"rebind.test": ["127.0.0.1", "::1"]})
    with pytest.raises(DestinationRefused) as caught:
        await PolicyResolver(STRICT, base).resolve("rebind.test", 80)
    assert "loopback address" in caught.value.reason
    assert "rebind.test" in caught.value.reason
    assert caught.value.errno == errno.EACCES


@pytest.mark.parametrize("host", ["localhost", "0x7f000001", "metadata.google.internal"])
async def test_resolver_refuses_names_before_any_lookup(host: str) -> None:
    base = FakeResolver({})
    with pytest.raises(DestinationRefused):
        await PolicyResolver(STRICT, base).resolve(host, 80)
    assert base.asked == []


async def test_allow_listed_names_vouch_for_their_addresses() -> None:
    base = FakeResolver({"api.ns.svc.cluster.local": ["10.0.0.7"], "other.test": ["8.8.8.8"]})
    policy = DestinationPolicy.from_setting(".svc.cluster.local")
    vouched = VouchedAddresses()
    resolver = PolicyResolver(policy, base, vouched=vouched)
    assert [a["host"] for a in await resolver.resolve("api.ns.svc.cluster.local")] == ["10.0.0.7"]
    await resolver.resolve("other.test")
    assert "10.0.0.7" in vouched
    assert "8.8.8.8" not in vouched  # allowed on its own merits, nothing to vouch for


def test_vouched_addresses_are_bounded() -> None:
    vouched = VouchedAddresses(capacity=2)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"):
        vouched.add(ip)
    assert "10.0.0.1" in vouched
    assert "10.0.0.3" in vouched
    assert "10.0.0.2" not in vouched
    assert "not an ip" not in vouched


def test_socket_factory_refuses_denied_addresses() -> None:
    create = guarded_socket_factory(STRICT, VouchedAddresses())
    with pytest.raises(DestinationRefused, match="loopback"):
        create((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80)))
    with pytest.raises(DestinationRefused, match="metadata"):
        create((socket.AF_INET6, socket.SOCK_STREAM, 0, "", ("fd00:ec2::254", 80, 0, 0)))


def test_socket_factory_creates_sockets_for_allowed_and_vouched_addresses() -> None:
    vouched = VouchedAddresses()
    vouched.add("10.0.0.7")
    create = guarded_socket_factory(STRICT, vouched)
    for ip in ("8.8.8.8", "10.0.0.7"):
        sock = create((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, 80)))
        try:
            assert sock.family == socket.AF_INET
            assert sock.type == socket.SOCK_STREAM
        finally:
            sock.close()


def _connection_key() -> aiohttp.client_reqrep.ConnectionKey:
    return aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 80, False, True, None, None, None)


def test_refusal_reason_digs_through_aiohttp_wrappers() -> None:
    refused = DestinationRefused("destination 127.0.0.1 is a loopback address")
    wrapped = aiohttp.ClientConnectorError(_connection_key(), refused)
    assert refusal_reason(refused) == refused.reason
    assert refusal_reason(wrapped) == refused.reason
    outer = RuntimeError("outer")
    outer.__cause__ = wrapped
    assert refusal_reason(outer) == refused.reason


def test_refusal_reason_counts_aiohttps_own_literal_refusal() -> None:
    error = aiohttp.InvalidUrlClientError("2130706433", "is not a canonical IPv4 address")
    reason = refusal_reason(error)
    assert reason is not None
    assert "127.0.0.1, a loopback address" in reason


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        aiohttp.ClientConnectorError(_connection_key(), OSError(errno.ECONNREFUSED, "refused")),
        aiohttp.InvalidUrlClientError("http://", "no host"),
        TimeoutError(),
        OSError(errno.EACCES, "Permission denied"),  # EACCES alone is not a refusal
    ],
)
def test_ordinary_errors_are_not_refusals(error: BaseException) -> None:
    assert refusal_reason(error) is None


async def test_make_connector_keeps_the_hooks_to_itself() -> None:
    with pytest.raises(TypeError, match="resolver"):
        make_connector(STRICT, resolver=FakeResolver({}))
    with pytest.raises(TypeError, match="socket_factory"):
        make_connector(STRICT, socket_factory=socket.socket)
    connector = make_connector(STRICT, limit=0, ttl_dns_cache=60)
    try:
        assert connector.limit == 0
    finally:
        await connector.close()


def test_embedded_ipv4_is_what_the_allow_list_sees() -> None:
    """One more angle: the unwrapped IPv4 of a mapped address matches an IPv4 CIDR."""
    policy = DestinationPolicy.from_setting("127.0.0.1/32")
    assert policy.check_address("::ffff:127.0.0.1") is None
    assert policy.check_address(IPv4Address("127.0.0.1")) is None
    assert policy.check_address("127.0.0.2") is not None


def _inet_aton(host: str) -> str:
    try:
        return str(IPv4Address(socket.inet_aton(host)))
    except OSError:
        return "invalid"


def _ours(host: str) -> str:
    try:
        literal = literal_address(host)
    except ValueError:
        return "invalid"
    return "a name" if literal is None else str(literal[0])


def test_numeric_hosts_parse_exactly_as_libc_inet_aton_does() -> None:
    """A seeded differential test against the C library's inet_aton (socket.inet_aton).

    What we call a name, libc refuses as an address too. The one intended difference: an
    empty hex part (`0x`) is 0, as in the WHATWG URL standard, where glibc refuses it;
    either way the host is refused. Trailing dots are stripped before parsing, so skipped.
    """
    rng = random.Random(20240601)
    addresses = 0
    for _ in range(20_000):
        host = "".join(rng.choice("0123456789x7fa.") for _ in range(rng.randint(1, 12)))
        if "0x." in host + "." or host.endswith("."):
            continue
        ours, theirs = _ours(host), _inet_aton(host)
        assert ours == theirs or (ours == "a name" and theirs == "invalid"), host
        addresses += ours not in ("a name", "invalid")
    assert addresses > 1_000  # the sample does reach the interesting cases
