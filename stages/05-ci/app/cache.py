"""Redis on the redirect path: the cached target (cache-aside) and the visit count, both in one
round trip. Redis only makes the app faster. When it is down or slow, a call gives up within
0.2 s, a circuit breaker stops asking it, a background thread probes it once a second, and
meanwhile the app answers from PostgreSQL and keeps the visits it counts in memory, handing them
to Redis with the first request after it is back."""

import logging
import threading
import time
from collections import Counter

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .metrics import CACHE_LOOKUPS

log = logging.getLogger(__name__)

# Visits not yet in PostgreSQL: a hash of short code -> count (visits.py moves them).
PENDING_VISITS = "visits:pending"


class CircuitBreaker:
    """Closed: requests use Redis. After a failure: open, requests do not wait on Redis at all,
    and one background thread probes it every `retry_seconds` until it answers again, then
    closes the breaker and calls `when_back`."""

    def __init__(self, probe, when_back, retry_seconds: float = 1.0):
        self.probe = probe
        self.when_back = when_back
        self.retry_seconds = retry_seconds
        self.is_open = False
        self._lock = threading.Lock()

    def trip(self, error: Exception) -> None:
        with self._lock:
            if self.is_open:
                return
            self.is_open = True
        log.warning("redis unavailable, answering from the database until it is back: %s", error)
        # Started in the worker that saw the failure: threads do not survive a fork.
        threading.Thread(target=self._probe_until_back, daemon=True, name="redis-probe").start()

    def _probe_until_back(self) -> None:
        while True:
            time.sleep(self.retry_seconds)
            try:
                self.probe()
            except redis.RedisError:
                continue
            self.is_open = False
            log.warning("redis is back: using the cache again")
            self.when_back()
            return


class LinkCache:
    def __init__(self, url: str = "", ttl_seconds: int = 300, retry_seconds: float = 1.0):
        self.ttl = ttl_seconds
        # redis-py retries a failed command 3 times with backoff by default: a request would wait
        # seconds for a dead Redis. No retries here; the breaker decides when to try again.
        self.client = (redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2,
                                            retry=Retry(NoBackoff(), 0))
                       if url else None)
        self.breaker = CircuitBreaker(self._ping, self._hand_over_memory_visits, retry_seconds)
        # Visits counted while Redis was away, in this worker, not yet handed to Redis.
        self.visits_in_memory: Counter[str] = Counter()
        self._memory_lock = threading.Lock()

    @staticmethod
    def key(code: str) -> str:
        return f"link:{code}"

    @property
    def available(self) -> bool:
        return self.client is not None and not self.breaker.is_open

    def _ping(self) -> None:
        self.client.ping()

    def lookup(self, code: str, count_visit: bool) -> tuple[str | None, str, str | None]:
        """(the cached target or None, the X-Cache state, where the visit was counted or None).
        One round trip: the GET and the HINCRBY (plus any visits counted in memory meanwhile) go
        to Redis as one pipeline. A visit to an unknown code is counted too, and dropped when
        the visits are moved (no row matches it)."""
        use_cache = self.ttl > 0
        if not self.available:
            if self.client is not None and use_cache:
                CACHE_LOOKUPS.labels(result="bypass").inc()
            state = "bypass" if self.client is not None and use_cache else "off"
            if count_visit and self.client is not None:
                with self._memory_lock:
                    self.visits_in_memory[code] += 1
                return None, state, "memory"
            return None, state, None
        held = self._take_memory_visits()
        pipe = self.client.pipeline(transaction=False)
        if use_cache:
            pipe.get(self.key(code))
        if count_visit:
            pipe.hincrby(PENDING_VISITS, code, 1)
        for held_code, count in held.items():
            pipe.hincrby(PENDING_VISITS, held_code, count)
        try:
            results = pipe.execute()
        except redis.RedisError as error:
            self._return_memory_visits(held)
            if use_cache:
                CACHE_LOOKUPS.labels(result="error").inc()
            self.breaker.trip(error)
            return self.lookup(code, count_visit)  # now open: bypass, counted in memory
        if not use_cache:
            return None, "off", "redis" if count_visit else None
        value = results[0]
        CACHE_LOOKUPS.labels(result="hit" if value is not None else "miss").inc()
        return (value.decode() if value is not None else None, "hit" if value is not None else "miss",
                "redis" if count_visit else None)

    def set(self, code: str, url: str) -> None:
        if self.available and self.ttl > 0:
            try:
                self.client.set(self.key(code), url, ex=self.ttl)
            except redis.RedisError as error:
                self.breaker.trip(error)  # the next lookup reads the database again

    def invalidate(self, code: str) -> None:
        if self.client is not None:
            try:
                self.client.delete(self.key(code))
            except redis.RedisError as error:
                # A stale entry would outlive the change: say so loudly; the TTL bounds it.
                log.error("cache invalidation of %s failed (expires within %s s): %s", code, self.ttl, error)

    def pending_visits(self, code: str, batch_keys: tuple[str, ...]) -> int:
        """Visits of `code` not yet in PostgreSQL: in Redis (in `batch_keys`) and in this worker."""
        with self._memory_lock:
            pending = self.visits_in_memory[code]
        if self.available:
            try:
                pipe = self.client.pipeline(transaction=False)
                for key in batch_keys:
                    pipe.hget(key, code)
                pending += sum(int(value or 0) for value in pipe.execute())
            except redis.RedisError as error:
                self.breaker.trip(error)
        return pending

    def _hand_over_memory_visits(self) -> None:
        """The visits this worker counted while Redis was away, into Redis now that it is back
        (also done by the next redirect, with its lookup)."""
        held = self._take_memory_visits()
        if held:
            try:
                pipe = self.client.pipeline(transaction=False)
                for code, count in held.items():
                    pipe.hincrby(PENDING_VISITS, code, count)
                pipe.execute()
            except redis.RedisError as error:
                self._return_memory_visits(held)
                self.breaker.trip(error)

    def _take_memory_visits(self) -> Counter[str]:
        if not self.visits_in_memory:  # the common case, without taking the lock
            return Counter()
        with self._memory_lock:
            held, self.visits_in_memory = self.visits_in_memory, Counter()
        return held

    def _return_memory_visits(self, held: Counter[str]) -> None:
        if held:
            with self._memory_lock:
                self.visits_in_memory.update(held)

    def after_fork(self) -> None:
        """In a new worker process: no connection of the parent's is used (redis-py would also
        notice the new PID itself; this says it plainly)."""
        if self.client is not None:
            self.client.connection_pool.reset()
