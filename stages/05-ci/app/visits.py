"""Visits are counted in Redis (cache.py, in the redirect's own round trip) and moved into
PostgreSQL in batches by `flask move-visits`, a process of its own (the `visits` service): the
database sees one transaction per batch, not one per redirect.

No counted visit is lost while Redis is up, also when the mover dies in the middle of a batch:
1. the pending counts are renamed, atomically, to a batch key with a new batch id in it;
2. one transaction adds them to the links and records the batch id as the last one moved;
3. the batch key is deleted.
A mover that dies before 2 finds the batch key on its next start and moves it; one that dies
between 2 and 3 finds it too, sees its id already recorded, and only deletes it. When Redis
itself dies, what it held is lost: the visits since the last batch (one interval, or more while
PostgreSQL is down and nothing can be moved)."""

import logging
import signal
import time
import uuid

import redis
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine

from .cache import PENDING_VISITS
from .models import Link, VisitMover

log = logging.getLogger(__name__)

# The batch being moved: the pending counts, plus its id under BATCH_ID_FIELD.
MOVING_VISITS = "visits:moving"
BATCH_ID_FIELD = "__batch__"

# Atomic in Redis: take the pending counts as a new batch, unless an unfinished batch is there
# (then that one is returned, to be moved first).
TAKE_BATCH = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return redis.call('HGETALL', KEYS[2])
"""


def move_batch(client: redis.Redis, engine: Engine) -> int:
    """Move one batch of visits from Redis into PostgreSQL; the number of visits moved."""
    pairs = client.eval(TAKE_BATCH, 2, PENDING_VISITS, MOVING_VISITS, BATCH_ID_FIELD, uuid.uuid4().hex)
    counts = {key.decode(): value.decode() for key, value in zip(pairs[::2], pairs[1::2], strict=True)}
    if not counts:
        return 0
    batch_id = counts.pop(BATCH_ID_FIELD)
    moved = 0
    links, mover = Link.__table__, VisitMover.__table__
    # A real transaction (the app's connections autocommit each statement, see config.py).
    with engine.connect().execution_options(isolation_level="READ COMMITTED") as connection:
        with connection.begin():
            # FOR UPDATE: a second mover, if one ever runs, waits here and then sees this batch done.
            last = connection.scalar(select(mover.c.last_batch).where(mover.c.id == 1).with_for_update())
            if last != batch_id:
                rows = [{"b_code": code, "b_visits": int(count)} for code, count in counts.items()]
                connection.execute(update(links).where(links.c.code == bindparam("b_code"))
                                   .values(visits=links.c.visits + bindparam("b_visits")), rows)
                connection.execute(update(mover).where(mover.c.id == 1).values(last_batch=batch_id))
                moved = sum(row["b_visits"] for row in rows)
    client.delete(MOVING_VISITS)
    return moved


def run_mover(client: redis.Redis, engine: Engine, interval: float, heartbeat: str) -> None:
    """Move a batch every `interval` seconds until SIGTERM (the batch in progress is finished).
    Redis or PostgreSQL away: one log line, and the next interval tries again."""
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    log.info("moving visits from redis to postgresql every %s s", interval)
    while not stopping:
        started = time.monotonic()
        try:
            moved = move_batch(client, engine)
            if moved:
                log.info("moved %d visits", moved)
        except Exception as error:  # either store away: say so, keep going, try again
            log.warning("visits not moved this time: %s", str(error).strip().splitlines()[0])
        # Liveness for the health check: the loop runs, whether or not the stores answer.
        with open(heartbeat, "w") as beat:
            beat.write(str(time.time()))
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    log.info("visit mover stopped")
