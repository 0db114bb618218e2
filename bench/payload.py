"""The 1 KiB JSON body every scenario sends, the same for hookstream, ceilings and peers.

Standard library only: the peers' virtualenv imports this module too.
"""

from __future__ import annotations

import time

BODY_BYTES = 1024
CONTENT_TYPE = "application/json"


def make_body(seq: int, sent: float | None = None) -> bytes:
    """`{"seq": .., "sent": <unix s>, "pad": "xx.."}` padded to exactly BODY_BYTES.

    `sent` lets the sink compute publish-to-arrival latency on the same machine clock.
    """
    head = f'{{"seq":{seq},"sent":{time.time() if sent is None else sent:.6f},"pad":"'
    return (head + "x" * (BODY_BYTES - len(head) - 2) + '"}').encode()
