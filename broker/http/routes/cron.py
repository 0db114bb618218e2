"""`GET /v2/cronPreview?cron=<expression>&count=<n>`: a cron's next fire times.

hookstream's own endpoint, for the console's schedule form: the times come from
broker/cron.py and Redis TIME, exactly as the scheduler will compute them (zones, DST gaps
and repeated hours included), so the preview cannot disagree with the schedule it creates.
"""

from __future__ import annotations

from aiohttp import web

from broker.cron import next_fire_ms, parse_cron
from broker.errors import BadRequest
from broker.http.context import connection
from broker.http.filters import count_parameter
from broker.http.routes.schedules import SECOND_FIELD_CRONS

MAX_COUNT = 20


async def cron_preview(request: web.Request) -> web.Response:
    """`{"cron": <as parsed>, "next": [unix ms, ...]}`; 400 naming what is wrong."""
    text = request.query.get("cron", "").strip()
    if not text:
        raise BadRequest("the cron parameter is required")
    count = count_parameter(request.query, default=5, maximum=MAX_COUNT)
    try:
        cron = parse_cron(text, allow_seconds=request.app.get(SECOND_FIELD_CRONS, False))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    after = await connection(request).now_ms()
    times = []
    for _ in range(count):
        after = next_fire_ms(cron, after)
        times.append(after)
    return web.json_response({"cron": cron.text, "next": times})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/cronPreview", cron_preview)
