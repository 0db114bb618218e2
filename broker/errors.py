"""The small error tree of hookstream; the ingress maps it to HTTP answers in one place."""

from __future__ import annotations


class QueueError(Exception):
    """Base of every error that a client caused and should be told about."""

    status = 500


class BadRequest(QueueError):
    """The request is malformed: a header value, a destination, a body."""

    status = 400


class Unauthorized(QueueError):
    """The bearer token is missing or unknown."""

    status = 401


class NotFound(QueueError):
    """The named message, schedule, queue, group or DLQ entry does not exist."""

    status = 404
