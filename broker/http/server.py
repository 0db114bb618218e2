"""Serving an aiohttp application with bounds for slow and for numerous clients.

- aiohttp closes a connection that has no complete request head within its keep-alive
  timeout, counted from when the connection opened and from each response
  (`RequestHandler.connection_made` and `_process_keepalive`). So HOOKSTREAM_HTTP_IDLE_TIMEOUT
  is both the idle timeout and the deadline for slow headers (aiohttp's default is an hour).
- aiohttp has no connection limit, so the listener is ours: it hands each connection to
  aiohttp's server while fewer than HOOKSTREAM_HTTP_MAX_CONNECTIONS are open, and answers the
  others 503 and closes them. The count is aiohttp's list of open connections, which a burst
  accepted in the same instant can pass by the size of that burst.
- Handlers are not cancelled when a client goes away (aiohttp's default): a publish half done
  finishes, and no Redis call is cancelled mid-flight (docs/architecture.md, shutdown).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from broker.settings import Settings

_BUSY_BODY = b'{"error":"too many connections (HOOKSTREAM_HTTP_MAX_CONNECTIONS); retry later"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class _Busy(asyncio.Protocol):
    """A connection past the limit: one 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_BUSY)
        transport.close()


class Listener:
    """An application on host:port, with the connection bounds of `settings`."""

    def __init__(self, app: web.Application, settings: Settings, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.limit = settings.http_max_connections
        self.runner = web.AppRunner(
            app, access_log=None, keepalive_timeout=settings.http_idle_timeout_ms / 1000
        )
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; OSError (the port is taken, say) once nothing is left running."""
        await self.runner.setup()
        try:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(self._connection, self.host, self.port)
        except OSError:
            await self.runner.cleanup()
            raise

    def _connection(self) -> asyncio.BaseProtocol:
        aiohttp_server = self.runner.server
        assert aiohttp_server is not None
        if len(aiohttp_server.connections) >= self.limit:
            return _Busy()
        return aiohttp_server()

    async def stop(self) -> None:
        """Stop accepting, then let aiohttp finish and close what is open."""
        if self._server is not None:
            self._server.close()
        await self.runner.cleanup()
