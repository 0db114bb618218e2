"""The destination policy at connect time, against a real aiohttp server on 127.0.0.1.

The server counts accepted TCP connections, so "refused" means the worker's client never
opened a socket to it, not merely that the request failed. Only 127.0.0.1 and ::1 are ever
dialled; names come from a fake resolver, never from DNS.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

from broker.egress import DestinationPolicy
from tests.support.dns import FakeResolver
from workers.egress import make_connector, refusal_reason

pytestmark = pytest.mark.integration

STRICT = DestinationPolicy()
TIMEOUT = aiohttp.ClientTimeout(total=5)


@dataclass
class Receiver:
    """An aiohttp server on 127.0.0.1 that counts the TCP connections it accepts."""

    port: int
    connections: int = 0
    requests: int = 0

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}/hook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    loop = asyncio.get_running_loop()

    async def handle(_: web.BaseRequest) -> web.Response:
        state.requests += 1
        return web.Response(text="ok")

    http = web.Server(handle, access_log=None)
    state = Receiver(port=0)

    def accept() -> web.RequestHandler:
        # One call per accepted connection: this is what "the server saw nothing" counts.
        state.connections += 1
        return http()

    server = await loop.create_server(accept, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    yield state
    server.close()
    await http.shutdown(1)
    await server.wait_closed()


async def _get(
    policy: DestinationPolicy, url: str, base_resolver: AbstractResolver | None = None
) -> BaseException | int:
    """The status of one GET through make_connector, or the exception it raised."""
    connector = make_connector(policy, base_resolver=base_resolver, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:
        try:
            async with session.get(url, allow_redirects=False) as answer:
                await answer.read()
                return answer.status
        except (aiohttp.ClientError, OSError) as exc:
            return exc


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("127.0.0.1", "loopback address"),
        ("localhost", "loopback name"),
        ("LOCALHOST.", "loopback name"),
        ("0x7f000001", "127.0.0.1, a loopback address"),
        ("0x7f.0.0.1", "127.0.0.1, a loopback address"),
        ("127.1", "127.0.0.1, a loopback address"),
        ("2130706433", "127.0.0.1, a loopback address"),
        ("0177.0.0.1", "127.0.0.1, a loopback address"),
        ("[::1]", "loopback address"),
        ("[::ffff:127.0.0.1]", "(IPv4 127.0.0.1) is a loopback address"),
    ],
)
async def test_strict_policy_never_connects_to_loopback(
    receiver: Receiver, host: str, words: str
) -> None:
    outcome = await _get(STRICT, receiver.url(host))
    assert isinstance(outcome, BaseException), outcome
    reason = refusal_reason(outcome)
    assert reason is not None, repr(outcome)
    assert words in reason
    assert receiver.connections == 0


async def test_a_literal_refusal_is_an_ordinary_looking_connector_error(
    receiver: Receiver,
) -> None:
    """What the worker catches today (a ClientConnectorError), carrying the reason."""
    outcome = await _get(STRICT, receiver.url("127.0.0.1"))
    assert isinstance(outcome, aiohttp.ClientConnectorError)
    assert "loopback address" in str(outcome)


@pytest.mark.parametrize(
    ("policy", "host"),
    [
        (DestinationPolicy(dev=True), "127.0.0.1"),
        (DestinationPolicy(dev=True), "localhost"),
        (DestinationPolicy(dev=True), "[::ffff:127.0.0.1]"),
        (DestinationPolicy.from_setting("127.0.0.1/32"), "127.0.0.1"),
        (DestinationPolicy.from_setting("127.0.0.1/32"), "localhost"),
        (DestinationPolicy.from_setting("127.0.0.0/8"), "[::ffff:127.0.0.1]"),
    ],
)
async def test_dev_mode_and_the_allow_list_reach_the_receiver(
    receiver: Receiver, policy: DestinationPolicy, host: str
) -> None:
    assert await _get(policy, receiver.url(host)) == 200
    assert (receiver.connections, receiver.requests) == (1, 1)


async def test_a_name_that_resolves_to_loopback_is_refused(receiver: Receiver) -> None:
    """DNS rebinding: the ingress accepts the name (no DNS there); the connect is refused."""
    url = receiver.url("rebind.test")
    STRICT.check_url(url)
    dns = FakeResolver({"rebind.test": ["127.0.0.1"]})
    outcome = await _get(STRICT, url, base_resolver=dns)
    assert isinstance(outcome, BaseException), outcome
    reason = refusal_reason(outcome)
    assert reason is not None
    assert "127.0.0.1 is a loopback address" in reason
    assert "rebind.test" in reason
    assert receiver.connections == 0


async def test_dev_mode_still_refuses_a_name_that_resolves_to_metadata(
    receiver: Receiver,
) -> None:
    dns = FakeResolver({"rebind.test": ["169.254.169.254", "fd00:ec2::254"]})
    outcome = await _get(DestinationPolicy(dev=True), receiver.url("rebind.test"), dns)
    assert isinstance(outcome, BaseException), outcome
    reason = refusal_reason(outcome)
    assert reason is not None
    assert "cloud metadata" in reason
    assert receiver.connections == 0


async def test_an_allow_listed_name_vouches_for_its_loopback_address(
    receiver: Receiver,
) -> None:
    """The resolver allows it by name; the socket factory then lets that address through."""
    dns = FakeResolver({"hooks.svc.cluster.local": ["127.0.0.1"]})
    policy = DestinationPolicy.from_setting(".svc.cluster.local")
    assert await _get(policy, receiver.url("hooks.svc.cluster.local"), dns) == 200
    assert receiver.requests == 1


async def test_an_ordinary_connection_error_is_not_a_refusal(receiver: Receiver) -> None:
    """A closed port under dev mode: retried like any failure, not dead-lettered."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    outcome = await _get(DestinationPolicy(dev=True), f"http://127.0.0.1:{closed_port}/")
    assert isinstance(outcome, aiohttp.ClientConnectorError)
    assert refusal_reason(outcome) is None
    assert receiver.connections == 0
