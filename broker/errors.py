"""The small error tree of hookstream. The classes name what went wrong in domain terms;
which HTTP answer each one becomes is decided in one table, broker/http/middleware.py."""

from __future__ import annotations


class QueueError(Exception):
    """Base of every error hookstream raises on purpose (anything else is a bug)."""


class BadRequest(QueueError):
    """The request is malformed: a header value, a destination, a body."""


class Unauthorized(QueueError):
    """The bearer token is missing or unknown."""


class Forbidden(QueueError):
    """The token is valid but may not do this (a read-only token asking to change something)."""


class NotFound(QueueError):
    """The named message, schedule, queue, group or DLQ entry does not exist."""


class Conflict(QueueError):
    """The request contradicts the current state of what it names."""


class Unavailable(QueueError):
    """Redis cannot be reached right now; the same request may succeed a little later."""


class ConfigError(QueueError):
    """A setting is missing or malformed; the process refuses to start."""


class EmbeddedServerError(QueueError):
    """No Redis-compatible server binary was found, or it did not come up."""
