"""The destination policy (SSRF filter): which hosts hookstream may deliver to.

One `DestinationPolicy` serves both tiers. The ingress calls `check_url` on every URL a client
names; it sees literal addresses and well-known names only, because it does no DNS. The
workers call `check_host` before resolving a name and `check_address` on every resolved
address (workers/egress.py), so a name that resolves, or later rebinds, to a denied address
is caught at connect time. docs/security.md explains the rules for operators.

The address tables are written out with the RFC behind each row instead of leaning on
`ipaddress`'s `is_private`/`is_global`, whose meaning changed between Python releases.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from urllib.parse import unquote

from yarl import URL

from broker.errors import BadRequest

SETTING = "HOOKSTREAM_ALLOWED_DESTINATIONS"

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class AddressClass(StrEnum):
    """Why an address is special; the names appear in refusals, logs and docs."""

    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    METADATA = "metadata"
    CGNAT = "cgnat"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    BROADCAST = "broadcast"
    RESERVED = "reserved"


# Dev mode exists so that receivers on the developer's machine or LAN work; link-local and
# metadata stay denied because reaching them is the point of most SSRF attacks.
DEV_ALLOWED = frozenset({AddressClass.LOOPBACK, AddressClass.PRIVATE})

# Cloud credentials live behind these; no setting opens them, so that a broad allow-list
# entry (169.254.0.0/16, 0.0.0.0/0, an allow-listed name that resolves there) cannot.
NEVER_ALLOWED = frozenset({AddressClass.METADATA})


@dataclass(frozen=True)
class Special:
    """One row of an address table: a network, its class and the words a refusal uses."""

    network: IPNetwork
    kind: AddressClass
    label: str


def _row(cidr: str, kind: AddressClass, label: str) -> Special:
    return Special(ip_network(cidr), kind, label)


_L = AddressClass

# IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates), plus cloud metadata.
_IPV4_ROWS = (
    _row("0.0.0.0/32", _L.UNSPECIFIED, "the unspecified address (RFC 1122)"),
    # Linux connects 0.0.0.0 to the local host, hence the whole of 0/8 is refused.
    _row("0.0.0.0/8", _L.RESERVED, "a 'this network' address (RFC 1122)"),
    _row("10.0.0.0/8", _L.PRIVATE, "a private address (RFC 1918)"),
    _row("100.64.0.0/10", _L.CGNAT, "a shared carrier-grade NAT address (RFC 6598)"),
    _row("100.100.100.200/32", _L.METADATA, "a cloud metadata address (Alibaba Cloud)"),
    _row("127.0.0.0/8", _L.LOOPBACK, "a loopback address (RFC 1122)"),
    _row("169.254.0.0/16", _L.LINK_LOCAL, "a link-local address (RFC 3927)"),
    # AWS, GCP, Azure, OCI, DigitalOcean and OpenStack all serve instance metadata here.
    _row("169.254.169.254/32", _L.METADATA, "a cloud metadata address"),
    _row("169.254.170.2/32", _L.METADATA, "a cloud metadata address (AWS ECS task credentials)"),
    _row("169.254.170.23/32", _L.METADATA, "a cloud metadata address (EKS Pod Identity)"),
    _row("172.16.0.0/12", _L.PRIVATE, "a private address (RFC 1918)"),
    _row("192.0.0.0/24", _L.RESERVED, "an IETF protocol assignment (RFC 6890)"),
    _row("192.0.2.0/24", _L.RESERVED, "a documentation address (RFC 5737)"),
    _row("192.88.99.0/24", _L.RESERVED, "a 6to4 relay anycast address (RFC 7526)"),
    _row("192.168.0.0/16", _L.PRIVATE, "a private address (RFC 1918)"),
    _row("198.18.0.0/15", _L.RESERVED, "a benchmarking address (RFC 2544)"),
    _row("198.51.100.0/24", _L.RESERVED, "a documentation address (RFC 5737)"),
    _row("203.0.113.0/24", _L.RESERVED, "a documentation address (RFC 5737)"),
    _row("224.0.0.0/4", _L.MULTICAST, "a multicast address (RFC 5771)"),
    _row("240.0.0.0/4", _L.RESERVED, "a reserved address (RFC 1112)"),
    _row("255.255.255.255/32", _L.BROADCAST, "the limited broadcast address (RFC 919)"),
)

# IANA IPv6 Special-Purpose Address Registry (RFC 6890 and its updates), plus cloud metadata.
# ::ffff:0:0/96 (mapped) and 64:ff9b::/96 (NAT64) have no row: they carry an IPv4 address and
# are judged by it, see _embedded_ipv4.
_IPV6_ROWS = (
    _row("::/128", _L.UNSPECIFIED, "the unspecified address (RFC 4291)"),
    _row("::1/128", _L.LOOPBACK, "the loopback address (RFC 4291)"),
    _row("::/96", _L.RESERVED, "a deprecated IPv4-compatible address (RFC 4291)"),
    _row("64:ff9b:1::/48", _L.PRIVATE, "a local-use NAT64 address (RFC 8215)"),
    _row("100::/64", _L.RESERVED, "a discard-only address (RFC 6666)"),
    # Teredo (2001::/32) lives here too: it tunnels to an obfuscated IPv4 address.
    _row("2001::/23", _L.RESERVED, "an IETF protocol assignment (RFC 2928)"),
    _row("2001:db8::/32", _L.RESERVED, "a documentation address (RFC 3849)"),
    _row("3fff::/20", _L.RESERVED, "a documentation address (RFC 9637)"),
    _row("fc00::/7", _L.PRIVATE, "a unique local address (RFC 4193)"),
    _row("fd00:ec2::254/128", _L.METADATA, "a cloud metadata address (AWS IMDS)"),
    _row("fd00:ec2::23/128", _L.METADATA, "a cloud metadata address (EKS Pod Identity)"),
    _row("fe80::/10", _L.LINK_LOCAL, "a link-local address (RFC 4291)"),
    _row("fec0::/10", _L.PRIVATE, "a site-local address (RFC 3879)"),
    _row("ff00::/8", _L.MULTICAST, "a multicast address (RFC 4291)"),
)

# Everything outside global unicast is unassigned or special (RFC 4291 section 2.4).
_GLOBAL_UNICAST = IPv6Network("2000::/3")
_MAPPED = IPv6Network("::ffff:0:0/96")  # RFC 4291 section 2.5.5.2
_COMPATIBLE = IPv6Network("::/96")  # RFC 4291 section 2.5.5.1
_NAT64 = IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_OUTSIDE_GLOBAL = "an address outside IPv6 global unicast 2000::/3 (RFC 4291)"


def _most_specific_first(rows: tuple[Special, ...]) -> tuple[Special, ...]:
    # The metadata /32 must win over link-local /16, whatever order the table is written in.
    return tuple(sorted(rows, key=lambda row: row.network.prefixlen, reverse=True))


_IPV4_TABLE = _most_specific_first(_IPV4_ROWS)
_IPV6_TABLE = _most_specific_first(_IPV6_ROWS)

# Names that resolve to loopback by convention (RFC 6761 section 6.3; Debian's /etc/hosts).
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# GCP's metadata server by name; every other metadata name is caught after resolution.
_METADATA_NAMES = frozenset({"metadata.google.internal"})
# DNS labels as getaddrinfo takes them: letters, digits, hyphens and the underscore that
# some internal names carry. Anything else (spaces, `%`, `\\`) can never be resolved.
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
# The WHATWG URL rule: a host whose last label looks numeric is an IPv4 address or invalid.
_NUMERIC = re.compile(r"[0-9]+|0x[0-9a-f]*")
# One part of a numeric IPv4 host (inet_aton): 0x hex, octal with a leading 0, or decimal.
# Written out because int() would also take `+1`, ` 1` and `1_0`.
_PART = re.compile(r"0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*")


@dataclass(frozen=True)
class Classification:
    """What `classify` found: the class, the words for it, and any IPv4 it unwrapped."""

    kind: AddressClass
    label: str
    embedded: IPv4Address | None = None


def classify(address: IPAddress) -> Classification | None:
    """The special class of an address, or None for an ordinary global one."""
    if isinstance(address, IPv4Address):
        return _lookup(_IPV4_TABLE, address)
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = _lookup(_IPV4_TABLE, embedded)
        if inner is not None:
            return Classification(inner.kind, inner.label, embedded)
    found = _lookup(_IPV6_TABLE, address)
    if found is not None or address in _MAPPED or address in _NAT64:
        return found
    if address not in _GLOBAL_UNICAST:
        return Classification(AddressClass.RESERVED, _OUTSIDE_GLOBAL)
    return None


def _lookup(table: tuple[Special, ...], address: IPAddress) -> Classification | None:
    for row in table:
        if address in row.network:
            return Classification(row.kind, row.label)
    return None


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address inside a mapped, compatible, NAT64 or 6to4 IPv6 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        # :: and ::1 are in ::/96 as well, but they are IPv6's own unspecified and loopback.
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def parse_address(text: str) -> IPAddress:
    """An address as a resolver or socket spells it; an IPv6 zone (`%eth0`) is dropped."""
    return ip_address(text.split("%", 1)[0])


def normalise_host(host: str) -> str:
    """Lower case, IDNA-encoded (as getaddrinfo encodes), without trailing dots."""
    name = host.strip().rstrip(".").lower()
    if not name.isascii():
        # UnicodeError is a ValueError: callers refuse the host as invalid.
        name = name.encode("idna").decode("ascii")
    return name


def literal_address(host: str) -> tuple[IPAddress, bool] | None:
    """(address, canonical?) when a normalised host is an IP literal; None for a name.

    IPv4 follows inet_aton and the WHATWG URL standard: one to four parts, each decimal, octal
    (leading 0) or hex (0x), the last filling the remaining bytes, so `0x7f.1`, `2130706433`
    and `0177.0.0.1` all denote 127.0.0.1. Only dotted decimal is canonical. A host that ends
    in a number but is no valid address raises ValueError.
    """
    if ":" in host:
        return parse_address(host), True
    texts = host.split(".")
    if not _NUMERIC.fullmatch(texts[-1]):
        return None
    if len(texts) > 4 or not all(_PART.fullmatch(text) for text in texts):
        raise ValueError(f"{host} is not an IPv4 address")
    parts = [_number(text) for text in texts]
    tail_bytes = 5 - len(parts)
    if any(part > 0xFF for part in parts[:-1]) or parts[-1] >= 0x100**tail_bytes:
        raise ValueError(f"{host} has a part out of range")
    value = 0
    for part in parts[:-1]:
        value = value * 0x100 + part
    address = IPv4Address(value * 0x100**tail_bytes + parts[-1])
    return address, str(address) == host


def _number(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part, 10)


def spelling_reason(host: str) -> str | None:
    """Why a non-canonical IPv4 spelling (`127.1`, `0x7f000001`) is refused, or None.

    Such spellings are refused whatever the policy: aiohttp rejects most of them and
    getaddrinfo would quietly turn the rest into the address they denote. The reason still
    names the address and its class, so that `0x7f000001` is recognisably loopback.
    """
    try:
        literal = _host_literal(host)
    except ValueError:
        return None
    if literal is None or literal[1]:
        return None
    address = literal[0]
    found = classify(address)
    what = f"{address}, {found.label}" if found else str(address)
    return f"destination {host} is a non-canonical spelling of {what}; write it as {address}"


def _host_literal(host: str) -> tuple[IPAddress, bool] | None:
    """`literal_address` of a host as written; a trailing dot makes IPv4 non-canonical.

    aiohttp refuses `127.0.0.1.` as a non-canonical address, so accepting it would only
    defer the failure to the worker.
    """
    literal = literal_address(normalise_host(host))
    if literal is None or ":" in host:
        return literal
    return literal[0], literal[1] and not host.endswith(".")


def _decoded_note(host: str) -> str:
    """What a percent-encoded host would decode to, for the refusal message.

    getaddrinfo never undoes percent-encoding, so such a host is refused as invalid whatever
    it decodes to; a browser-style decoder would reach `%31%32%37.0.0.1` as 127.0.0.1, so
    the refusal names that address and its class.
    """
    decoded = unquote(host)
    if decoded == host:
        return ""
    try:
        literal = literal_address(normalise_host(decoded))
    except ValueError:
        literal = None
    found = classify(literal[0]) if literal else None
    if literal is None or found is None:
        return f" (it decodes to {decoded!r})"
    return f" (it decodes to {literal[0]}, {found.label})"


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


@dataclass(frozen=True)
class AllowList:
    """The parsed HOOKSTREAM_ALLOWED_DESTINATIONS: networks, exact names, `.suffix` domains."""

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> AllowList:
        """Comma-separated entries; a malformed one raises ValueError naming the setting."""
        networks: list[IPNetwork] = []
        names: set[str] = set()
        suffixes: list[str] = []
        for entry in (item.strip() for item in value.split(",")):
            if not entry:
                continue
            try:
                cls._add(entry, networks, names, suffixes)
            except ValueError as exc:
                raise ValueError(f"{SETTING}: invalid entry {entry!r} ({exc})") from None
        return cls(tuple(networks), frozenset(names), tuple(suffixes))

    @staticmethod
    def _add(entry: str, networks: list[IPNetwork], names: set[str], suffixes: list[str]) -> None:
        if "/" in entry or ":" in entry or entry.replace(".", "").isdigit():
            # Strict: 10.1.2.3/8 is a typo for 10.0.0.0/8 or 10.1.2.3/32; we do not guess.
            networks.append(ip_network(entry, strict=True))
            return
        name = normalise_host(entry.removeprefix("*"))
        bare = name.removeprefix(".")
        if not _valid_name(bare):
            raise ValueError("not a CIDR, a host name or a .suffix domain")
        if name.startswith("."):
            suffixes.append(name)
        else:
            names.add(name)

    def allows_address(self, address: IPAddress) -> bool:
        embedded = _embedded_ipv4(address) if isinstance(address, IPv6Address) else None
        return any(
            address in network or (embedded is not None and embedded in network)
            for network in self.networks
        )

    def allows_name(self, name: str) -> bool:
        """Exact names, and `.suffix` entries for names below the suffix (not the suffix itself)."""
        return name in self.names or any(name.endswith(suffix) for suffix in self.suffixes)


@dataclass(frozen=True)
class DestinationPolicy:
    """Deny-by-default rules for delivery targets, with dev mode and an allow-list."""

    allowed: AllowList = field(default_factory=AllowList)
    dev: bool = False

    @classmethod
    def from_setting(cls, value: str = "", *, dev: bool = False) -> DestinationPolicy:
        """Build from the HOOKSTREAM_ALLOWED_DESTINATIONS value; ValueError on a bad entry."""
        return cls(AllowList.parse(value), dev)

    def check_url(self, url: str) -> None:
        """Ingress check, no DNS: BadRequest when the URL's host is refused or unparseable."""
        reason = _url_verdict(self, url)
        if reason is not None:
            raise BadRequest(reason)

    def url_refusal(self, url: str) -> str | None:
        """Why `url` is refused, or None (uncached; check_url caches it)."""
        try:
            hosts = _url_hosts(url)
        except ValueError as exc:
            return str(exc)
        return next(filter(None, (self.check_host(host) for host in hosts)), None)

    def check_host(self, host: str) -> str | None:
        """Why a host as written in a URL is refused, or None; names are not resolved."""
        invalid = f"destination host {host!r} is not a valid host name or address"
        try:
            name = normalise_host(host)
            literal = _host_literal(host)
        except ValueError:
            return invalid + _decoded_note(host)
        if literal is not None:
            address, canonical = literal
            return self.check_address(address) if canonical else spelling_reason(host)
        if not _valid_name(name):
            return invalid + _decoded_note(host)
        return self._check_name(name)

    def _check_name(self, name: str) -> str | None:
        if name in _METADATA_NAMES:
            return f"destination {name} is a cloud metadata name; it is never allowed"
        if self.allowed.allows_name(name):
            return None
        if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
            # A loopback name is as good as its addresses: allowed when loopback is.
            loopback = (IPv4Address("127.0.0.1"), IPv6Address("::1"))
            if all(self.check_address(address) for address in loopback):
                return f"destination {name} is a loopback name (RFC 6761); {_HINT}"
        return None

    def allows_name(self, host: str) -> bool:
        """Whether the allow-list names this host (exactly or by `.suffix`)."""
        try:
            return self.allowed.allows_name(normalise_host(host))
        except ValueError:
            return False

    def check_address(self, ip: str | IPAddress, *, host: str | None = None) -> str | None:
        """Connect-time check of one resolved address: the reason it is denied, or None.

        `host` is the name it was resolved from: an allow-listed name vouches for its
        addresses (except metadata), so `.svc.cluster.local` works without a CIDR.
        """
        try:
            address = parse_address(ip) if isinstance(ip, str) else ip
        except ValueError:
            return f"destination {ip!r} is not an IP address"
        found = classify(address)
        if found is None:
            return None
        shown = f"{address} (IPv4 {found.embedded})" if found.embedded else str(address)
        if found.kind in NEVER_ALLOWED:
            return f"destination {shown} is {found.label}; it is never allowed"
        if self.dev and found.kind in DEV_ALLOWED:
            return None
        if self.allowed.allows_address(address) or (host is not None and self.allows_name(host)):
            return None
        return f"destination {shown} is {found.label}; {_HINT}"


_HINT = f"allow it with {SETTING}"


@functools.lru_cache(maxsize=4096)
def _url_verdict(policy: DestinationPolicy, url: str) -> str | None:
    """check_url's verdicts, cached: publishers reuse a few URLs, and parsing a URL twice and
    classifying its host cost ~13 µs of the ingress's ~250 µs per publish."""
    return policy.url_refusal(url)


def _url_hosts(url: str) -> list[str]:
    """The host as yarl normalises it (IDNA, case) and as the worker sends it (encoded=True).

    The worker opens URL(url, encoded=True), which skips that normalisation, so both forms
    are checked; a refusal of either refuses the URL.
    """
    try:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.raw_host:
            raise ValueError("not an absolute http(s) URL")
        hosts = [parsed.raw_host]
    except (ValueError, UnicodeError):
        message = f"invalid destination {url!r}: it must be an http(s) URL with a valid host"
        raise ValueError(message) from None
    try:
        raw = URL(url, encoded=True).raw_host
    except (ValueError, UnicodeError):
        raw = None  # the worker cannot open such a URL either; nothing more to check
    if raw and raw.lower() != hosts[0]:
        hosts.append(raw)
    return hosts
