"""How many threads a batch uses, and so how large every connection pool must be.

A batch (`notifier.batch`) runs up to `workers` notifications at once, and each of them may hand its
deliveries to a second pool of `delivery_workers(workers)` threads. Every client those threads share (a
destination's requests session, a boto3 client, the DynamoDB state store's client) keeps a pool of
connections; when more threads use a client at once than its pool holds, urllib3 opens a connection,
uses it once, throws it away and logs a warning for each ("Connection pool is full"). The pools are
sized here, from the same numbers, so that the defaults never do that.

Kept apart from `notifier.batch` (which imports the pipeline) so that the HTTP channel, the boto3 client
factory and the state stores can read it without an import cycle.
"""

from __future__ import annotations

# Notifications in flight at once. The work is network I/O bound: a thread waiting on Jira or SES holds
# no CPU (the GIL is released while it waits on its socket), and one notification costs well under a
# millisecond of CPU against 100 ms to seconds of waiting, so a 2-vCPU Lambda is nowhere near busy with
# 16 in flight. 16 covers SQS's default batch of 10 in one round, with room for larger batches; it stays
# bounded because every destination has rate limits (Jira Cloud and Slack answer 429 to bursts).
DEFAULT_WORKERS = 16

# Deliveries in flight per notification in flight: a notification usually goes to two or three
# destinations, and a batch's deliveries should all be on the wire in the same round trip.
DELIVERIES_PER_WORKER = 2


def delivery_workers(workers: int) -> int:
    return workers * DELIVERIES_PER_WORKER


# The most threads of a default batch that can use one client at once: notification threads (ordering
# guard, history) plus delivery threads (claims, sends).
CONNECTIONS_PER_POOL = DEFAULT_WORKERS + delivery_workers(DEFAULT_WORKERS)
