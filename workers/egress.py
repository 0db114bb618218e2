"""Connect-time enforcement of the destination policy for the delivery HTTP client.

Two public aiohttp hooks, both built by `make_connector`:

* `PolicyResolver` (TCPConnector's `resolver=`) resolves a name, drops the addresses the
  policy denies and raises `DestinationRefused` when none is left. The addresses it returns
  are the very ones the connector dials, so a name that resolves, or rebinds, to a denied
  address is never connected to.
* a socket factory (TCPConnector's `socket_factory=`, aiohttp >= 3.12) checks the concrete
  address of every socket just before it connects. aiohttp never calls the resolver for an
  IP-literal host (connector.py `_resolve_host`), so this is where literals are checked; for
  names it is a backstop behind the resolver.

A refusal is an OSError, so aiohttp wraps it in a ClientConnectorError like any failed
connect; `refusal_reason` digs it out so that the worker can dead-letter it at once.
"""

from __future__ import annotations

import errno
import socket
from collections import OrderedDict
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from broker.egress import DestinationPolicy, parse_address, spelling_reason


class DestinationRefused(OSError):
    """The destination policy refused every address of a host; `reason` says why."""

    def __init__(self, reason: str) -> None:
        # EACCES, as a firewall refusal would be; strerror carries the reason, so that
        # aiohttp's ClientConnectorError message ends in it.
        super().__init__(errno.EACCES, reason)
        self.reason = reason


class VouchedAddresses:
    """Addresses allowed only because an allow-listed name resolved to them.

    The socket factory sees an address but not the name it came from; without this record it
    would refuse the 10.x address of an allow-listed `.svc.cluster.local` name. Bounded, as
    names rotate addresses; an evicted entry only costs a refusal, never an unchecked connect,
    and with aiohttp's DNS cache (default 10 s) far shorter than the eviction horizon, a
    cached address is looked up again long before its entry could be evicted.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, None] = OrderedDict()

    def add(self, ip: str) -> None:
        key = str(parse_address(ip))
        self._entries[key] = None
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def __contains__(self, ip: object) -> bool:
        try:
            return isinstance(ip, str) and str(parse_address(ip)) in self._entries
        except ValueError:
            return False


class PolicyResolver(AbstractResolver):
    """Wraps a resolver (aiohttp's ThreadedResolver by default) and filters its answers."""

    def __init__(
        self,
        policy: DestinationPolicy,
        base: AbstractResolver | None = None,
        *,
        vouched: VouchedAddresses | None = None,
    ) -> None:
        self._policy = policy
        # ThreadedResolver is aiohttp's DefaultResolver unless aiodns is installed; it holds
        # no resources, so nothing leaks when the connector does not close us.
        self._owns_base = base is None
        self._base = aiohttp.ThreadedResolver() if base is None else base
        self._vouched = VouchedAddresses() if vouched is None else vouched

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        # Refuse localhost, metadata names and odd spellings (0x7f000001, which aiohttp
        # hands to us as a name) before any DNS traffic.
        reason = self._policy.check_host(host)
        if reason is not None:
            raise DestinationRefused(reason)
        answers = await self._base.resolve(host, port, family)
        kept: list[ResolveResult] = []
        refusals: list[str] = []
        for answer in answers:
            refusal = self._policy.check_address(answer["host"], host=host)
            if refusal is not None:
                refusals.append(refusal)
                continue
            if self._policy.check_address(answer["host"]) is not None:
                self._vouched.add(answer["host"])
            kept.append(answer)
        if refusals and not kept:
            raise DestinationRefused(f"{refusals[0]} (resolved from {host})")
        return kept

    async def close(self) -> None:
        if self._owns_base:
            await self._base.close()


def guarded_socket_factory(
    policy: DestinationPolicy, vouched: VouchedAddresses
) -> aiohttp.SocketFactoryType:
    """A socket factory that refuses to create a socket for a denied address."""

    def create(addr_info: aiohttp.AddrInfoType) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        ip = str(sockaddr[0])
        reason = policy.check_address(ip)
        if reason is not None and ip not in vouched:
            raise DestinationRefused(reason)
        # What aiohappyeyeballs does without a factory; it sets non-blocking mode itself.
        return socket.socket(family=family, type=kind, proto=proto)

    return create


_OURS = ("resolver", "socket_factory")


def make_connector(
    policy: DestinationPolicy,
    *,
    base_resolver: AbstractResolver | None = None,
    **tcp_kwargs: Any,
) -> aiohttp.TCPConnector:
    """A TCPConnector that only connects where `policy` allows; call it in a running loop.

    `tcp_kwargs` go to TCPConnector unchanged (limit, ttl_dns_cache, ...), except `resolver`
    and `socket_factory`, which are ours: pass `base_resolver` to change how names resolve.
    The caller keeps ownership of `base_resolver`.
    """
    taken = [name for name in _OURS if name in tcp_kwargs]
    if taken:
        raise TypeError(f"make_connector sets {', '.join(taken)} itself")
    vouched = VouchedAddresses()
    return aiohttp.TCPConnector(
        resolver=PolicyResolver(policy, base_resolver, vouched=vouched),
        socket_factory=guarded_socket_factory(policy, vouched),
        **tcp_kwargs,
    )


def refusal_reason(exc: BaseException) -> str | None:
    """The policy's reason when `exc` (from session.request) is a refusal, else None.

    Looks through aiohttp's wrappers (ClientConnectorError.os_error, __cause__,
    __context__). aiohttp itself refuses IP literals such as `127.1` or `2130706433` with an
    InvalidUrlClientError before any policy code runs; those count as refusals too, since
    no retry can ever deliver them.
    """
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DestinationRefused):
            return current.reason
        if isinstance(current, aiohttp.InvalidUrlClientError):
            reason = spelling_reason(str(current.url))
            if reason is not None:
                return reason
        if isinstance(current, aiohttp.ClientConnectorError):
            pending.append(current.os_error)
        pending.extend(link for link in (current.__cause__, current.__context__) if link)
    return None
