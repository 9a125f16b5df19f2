"""``[delivery] rate`` in messages a second: the batch size it allows and the time it takes.

The send job and its dry-run plan use these same two functions, so the plan's ETA is the
send's own arithmetic. With a rate set, no call carries more than one second's allowance
(a batch is at most ``rate`` messages), and the job's rate limiter starts each call
``size / rate`` seconds after the one before; a provider that hands each message over on
its own (SMTP) gets batches of one, so its messages are spaced one by one.
"""

from __future__ import annotations

import math

__all__ = ["eta_seconds", "paced_batch_size"]


def paced_batch_size(size: int, rate: float, *, per_message: bool = False) -> int:
    """The batch size to send with: ``size`` (the provider's limit or ``[delivery]
    batch_size``), capped at the rate's allowance for one second when a rate is set."""
    size = max(1, size)
    if rate <= 0:
        return size
    if per_message:
        return 1
    return max(1, min(size, math.floor(rate)))


def eta_seconds(to_send: int, batch_size: int, rate: float) -> float | None:
    """Seconds a paced send of ``to_send`` messages takes to start its last call: every
    batch but the last waits its ``size / rate``. None when no rate is set."""
    if rate <= 0:
        return None
    if to_send <= 0:
        return 0.0
    last = to_send - (math.ceil(to_send / batch_size) - 1) * batch_size
    return (to_send - last) / rate
