"""What a schedule's produced messages must show, whatever the load: checked on Redis times."""

from __future__ import annotations

from broker.queue.keys import tick_of


def tick_violations(created: list[tuple[str, int]], period_ms: int = 1000) -> list[str]:
    """Problems in one schedule's (message id, Redis time of CREATED) list, for a cron firing
    every `period_ms`: a tick twice, a tick off the cron grid, a message created before its
    tick, or a tick skipped although the fire before it was on time. After a late fire the
    scheduler moves to the first tick after now, so skipping is right only then."""
    fired = sorted((tick_of(message_id), at) for message_id, at in created)
    ticks = [tick for tick, _ in fired]
    problems = [f"tick {t} twice" for t in sorted(set(ticks)) if ticks.count(t) > 1]
    problems += [f"tick {t} off the grid" for t in ticks if t % period_ms]
    problems += [f"tick {t} created early, at {at}" for t, at in fired if at < t]
    problems += [
        f"ticks between {earlier} and {later} skipped, yet {earlier} fired on time (at {at})"
        for (earlier, at), later in zip(fired, ticks[1:], strict=False)
        if later - earlier > period_ms and at < later - period_ms
    ]
    return problems
