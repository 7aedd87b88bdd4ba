"""Cache-aside for the redirect lookup, in Redis. Redis only makes the app faster: when it is
down or slow, every call here gives up within a fraction of a second and the app answers from
PostgreSQL instead, never with an error."""

import logging

import redis

from .metrics import CACHE_LOOKUPS

log = logging.getLogger(__name__)


class LinkCache:
    def __init__(self, url: str = "", ttl_seconds: int = 300):
        self.ttl = ttl_seconds
        self.client = (redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
                       if url else None)

    @staticmethod
    def key(code: str) -> str:
        return f"link:{code}"

    def get(self, code: str) -> str | None:
        if self.client is None:
            return None
        try:
            value = self.client.get(self.key(code))
        except redis.RedisError as error:
            CACHE_LOOKUPS.labels(result="error").inc()
            log.warning("cache unavailable, reading from the database: %s", error)
            return None
        CACHE_LOOKUPS.labels(result="hit" if value is not None else "miss").inc()
        return value.decode() if value is not None else None

    def set(self, code: str, url: str) -> None:
        if self.client is not None:
            try:
                self.client.set(self.key(code), url, ex=self.ttl)
            except redis.RedisError:
                pass  # the next lookup reads the database again

    def invalidate(self, code: str) -> None:
        if self.client is not None:
            try:
                self.client.delete(self.key(code))
            except redis.RedisError as error:
                # A stale entry would outlive the change: say so loudly; the TTL bounds it.
                log.error("cache invalidation of %s failed (expires within %s s): %s", code, self.ttl, error)
