"""The error tree and the one table that maps it to HTTP answers."""

from __future__ import annotations

import inspect
import json

import pytest
import redis.exceptions
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from structlog.testing import capture_logs

from broker import errors
from broker.errors import (
    BadRequest,
    ConfigError,
    Conflict,
    EmbeddedServerError,
    Forbidden,
    NotFound,
    QueueError,
    Unauthorized,
    Unavailable,
)
from broker.http.middleware import STATUS, error_middleware, error_response, status_of


class TestTree:
    def test_one_root_and_one_line_docstrings(self) -> None:
        """Every class in broker.errors descends from QueueError and says what it means in
        one line; none carries an HTTP status of its own."""
        classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)]
        assert {c.__module__ for c in classes} == {"broker.errors"}
        for cls in classes:
            assert issubclass(cls, QueueError)
            assert cls.__doc__
            assert "\n" not in cls.__doc__.strip()
            assert not hasattr(cls, "status")


class TestStatusTable:
    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (BadRequest("x"), 400),
            (Unauthorized("x"), 401),
            (Forbidden("x"), 403),
            (NotFound("x"), 404),
            (Conflict("x"), 409),
            (Unavailable("x"), 503),
        ],
    )
    def test_each_client_error_has_its_status(self, error: QueueError, status: int) -> None:
        """The table gives each client-facing class its status."""
        assert status_of(error) == status == STATUS[type(error)]

    def test_a_subclass_answers_like_its_base(self) -> None:
        """A more specific error needs no row of its own."""

        class GroupNotFound(NotFound):
            """A URL group is missing."""

        assert status_of(GroupNotFound("g")) == 404

    @pytest.mark.parametrize("error", [ConfigError("x"), EmbeddedServerError("x"), QueueError("x")])
    def test_process_errors_have_no_status(self, error: QueueError) -> None:
        """Errors that are not about the request are listed nowhere: a bug if one escapes."""
        assert status_of(error) is None

    def test_only_503_says_when_to_retry(self) -> None:
        """Unavailable carries Retry-After; a 404 does not. Both bodies are {"error": ...}."""
        unavailable, missing = error_response(Unavailable("down")), error_response(NotFound("m"))
        assert (unavailable.status, unavailable.headers["Retry-After"]) == (503, "5")
        assert "Retry-After" not in missing.headers
        assert json.loads(missing.text or "") == {"error": "m"}


async def _answer(exc: BaseException) -> web.StreamResponse:
    async def handler(_: web.Request) -> web.StreamResponse:
        raise exc

    return await error_middleware(make_mocked_request("GET", "/v2/queues"), handler)


class TestMiddleware:
    @pytest.mark.parametrize(
        "exc",
        [redis.exceptions.ConnectionError("refused"), redis.exceptions.TimeoutError("slow")],
    )
    async def test_redis_out_of_reach_is_503(self, exc: Exception) -> None:
        """A connection failure or timeout becomes 503 with one log line and no traceback."""
        with capture_logs() as logs:
            response = await _answer(exc)
        assert (response.status, response.headers["Retry-After"]) == (503, "5")
        assert logs == [
            {
                "event": "http.redis_unavailable",
                "log_level": "error",
                "path": "/v2/queues",
                "error": str(exc),
            }
        ]

    async def test_a_redis_reply_error_is_a_bug(self) -> None:
        """An error Redis replied with (not a lost connection) stays 500 "internal error"."""
        with capture_logs() as logs:
            response = await _answer(redis.exceptions.ResponseError("WRONGTYPE"))
        assert (response.status, json.loads(response.text or "")) == (
            500,
            {"error": "internal error"},
        )
        assert logs[0]["event"] == "http.unhandled_error"
        assert logs[0]["exc_info"] is True

    async def test_an_unlisted_domain_error_is_a_bug(self) -> None:
        """A ConfigError raised inside a request is not shown to the client."""
        response = await _answer(ConfigError("HOOKSTREAM_TOKENS must be set"))
        assert (response.status, json.loads(response.text or "")) == (
            500,
            {"error": "internal error"},
        )
