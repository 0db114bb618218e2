"""`/v2/schedules`: create or update, get, list, delete, pause and resume (qstash-api.md 3.5).

The API only stores definitions; the scheduler process turns due ticks into messages.
"""

from __future__ import annotations

from aiohttp import web

from broker.api import Schedule
from broker.cron import Cron, next_fire_ms, parse_cron
from broker.egress import DestinationPolicy
from broker.errors import BadRequest, NotFound
from broker.http.context import connection
from broker.http.destination import raw_destination
from broker.http.views import respond, schedule_view
from broker.options import parse_publish_headers
from broker.queue.destinations import is_url, url_destination
from broker.queue.keys import ulid
from broker.queue.model import PublishOptions
from broker.queue.names import check_name
from broker.queue.schedules import Schedules, ScheduleSpec, StoredSchedule

PREFIX = "/v2/schedules/"
SECOND_FIELD_CRONS = web.AppKey("second_field_crons", bool)
"""Test-only: also accept six-field crons (seconds first). tests/support/hookstream.py sets it;
no environment variable reaches it, so a deployed API keeps the public five-field syntax."""


async def post_schedule(request: web.Request) -> web.Response:
    """Create or update; `POST /v2/schedules/{id}/pause|resume` is the older pause form,
    recognised only when the part before it has no `://` (schedule ids have no `/`)."""
    tail = request.raw_path.split("?", 1)[0][len(PREFIX) :]
    target, _, action = tail.rpartition("/")
    if action in ("pause", "resume") and target and "://" not in target:
        return await _set_paused(request, target, action == "pause")
    return await create_schedule(request)


async def create_schedule(request: web.Request) -> web.Response:
    """Validate everything, then store the schedule in one atomic step."""
    conn = connection(request)
    destination = _destination(raw_destination(request, PREFIX), conn.settings.destination_policy)
    cron = _cron(request)
    options = parse_publish_headers(request.headers, conn.settings)
    _refuse_one_off_options(options)
    spec = ScheduleSpec(
        id=_schedule_id(request.headers.get("Upstash-Schedule-Id")),
        cron=cron.text,
        destination=destination,
        options=options,
        queue_name=_queue_name(request.headers.get("Upstash-Queue-Name")),
        caller_ip=request.remote or "",
        timeout_given=bool(request.headers.get("Upstash-Timeout", "").strip()),
    )
    body = await request.read()
    schedules = Schedules(conn)
    await schedules.save(spec, body, next_fire_ms(cron, await schedules.now_ms()))
    return web.json_response({"scheduleId": spec.id})


async def list_schedules(request: web.Request) -> web.Response:
    """Every schedule, oldest first."""
    schedules = Schedules(connection(request))
    return respond([await _view(schedules, s) for s in await schedules.all()])


async def get_schedule(request: web.Request) -> web.Response:
    schedules = Schedules(connection(request))
    stored = await schedules.load(request.match_info["schedule_id"])
    if stored is None:
        raise NotFound(f"schedule {request.match_info['schedule_id']} not found")
    return respond(await _view(schedules, stored))


async def delete_schedule(request: web.Request) -> web.Response:
    """Stop a schedule; messages it already produced are still delivered."""
    schedule_id = request.match_info["schedule_id"]
    if not await Schedules(connection(request)).delete(schedule_id):
        raise NotFound(f"schedule {schedule_id} not found")
    return web.json_response({})


async def patch_schedule(request: web.Request) -> web.Response:
    """`PATCH /v2/schedules/{id}/pause|resume`, the form both SDKs send."""
    action = request.match_info["action"]
    return await _set_paused(request, request.match_info["schedule_id"], action == "pause")


async def _set_paused(request: web.Request, schedule_id: str, paused: bool) -> web.Response:
    """Pause or resume (idempotent). Resuming fires the next tick after now, not missed ones."""
    schedules = Schedules(connection(request))
    stored = await schedules.load(schedule_id)
    if stored is None:
        raise NotFound(f"schedule {schedule_id} not found")
    next_ms = 0 if paused else next_fire_ms(_stored_cron(stored), await schedules.now_ms())
    if not await schedules.set_paused(schedule_id, paused, next_ms):
        raise NotFound(f"schedule {schedule_id} not found")
    return web.json_response({})


def _refuse_one_off_options(options: PublishOptions) -> None:
    """Options that only make sense for a single message are errors, not silently dropped."""
    if options.not_before_ms is not None:
        raise BadRequest("Upstash-Not-Before does not apply to schedules; use Upstash-Delay")
    if options.deduplication_id or options.content_based_deduplication:
        raise BadRequest("deduplication does not apply to schedules: each tick is published once")
    if options.workflow is not None:  # each tick would repeat one run id
        raise BadRequest("workflow runs cannot be scheduled yet: Upstash-Workflow-RunId is refused")


def _cron(request: web.Request) -> Cron:
    text = request.headers.get("Upstash-Cron", "").strip()
    if not text:
        raise BadRequest("the Upstash-Cron header is required")
    try:
        return parse_cron(text, allow_seconds=request.app.get(SECOND_FIELD_CRONS, False))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _stored_cron(stored: StoredSchedule) -> Cron:
    # Stored crons were validated on the way in; seconds only exist if the test API allowed them.
    return parse_cron(stored.spec.cron, allow_seconds=True)


def _destination(destination: str, policy: DestinationPolicy) -> str:
    """A URL, or a URL group name (checked when a tick fires: groups may come later)."""
    if is_url(destination):
        return url_destination(destination, policy)
    return check_name("url_group", destination, "destination (not http(s), so a URL group name)")


def _schedule_id(value: str | None) -> str:
    if value is None or not value.strip():
        return f"scd_{ulid()}"
    return check_name("schedule_id", value.strip())


def _queue_name(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return check_name("queue", value.strip(), "Upstash-Queue-Name")


async def _view(schedules: Schedules, stored: StoredSchedule) -> Schedule:
    return schedule_view(stored, await schedules.message_states(stored.message_ids))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/schedules", list_schedules)
    app.router.add_get("/v2/schedules/{schedule_id}", get_schedule)
    app.router.add_delete("/v2/schedules/{schedule_id}", delete_schedule)
    app.router.add_patch("/v2/schedules/{schedule_id}/{action:pause|resume}", patch_schedule)
    app.router.add_post(PREFIX + "{destination:.+}", post_schedule)
