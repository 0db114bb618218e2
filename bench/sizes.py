"""How much each scenario sends. Every scenario is bounded in count and in time."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Sizes:
    publish: int = 40_000
    publish_warmup: int = 1_000
    publish_concurrency: int = 64
    publish_sequential: int = 2_000
    drain: int = 40_000
    paced_rate: int = 200
    paced_seconds: int = 10
    delayed: int = 1_000
    delay_seconds: int = 3
    retry_drain: int = 10_000
    retry_paced_rate: int = 300
    retry_paced_seconds: int = 5
    retry_backoff_ms: int = 100
    memory: int = 100_000
    idle_seconds: float = 15.0

    def scaled(self, factor: float) -> Sizes:
        """Smaller counts for a smoke run (`--scale 0.1`); rates and delays stay as they are."""
        if factor == 1:
            return self
        counts = ("publish", "publish_warmup", "publish_sequential", "drain", "delayed",
                  "retry_drain", "memory")  # fmt: skip
        changes = {f.name: max(10, int(getattr(self, f.name) * factor)) for f in fields(self)
                   if f.name in counts}  # fmt: skip
        return replace(self, **changes)
