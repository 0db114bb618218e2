"""The scheduler role: turns cron schedules into messages, exactly once per tick.

`loop.py` runs the replica (lease, wake-ups, shutdown), `tick.py` fires due ticks through the
claim-then-publish protocol of broker/queue/schedules.py, `lease.py` keeps one replica active.
Cron evaluation is shared with the API in broker/cron.py. See docs/scheduler.md.
"""
