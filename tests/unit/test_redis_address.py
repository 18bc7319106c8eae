"""RHONE_REDIS_URL read the way redis-py reads it (services/facade/redis_batch.py parses it
itself, so that the facade need not import redis-py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from redis.connection import SSLConnection, parse_url

from services.facade.redis_batch import RedisAddress

URLS = [
    "redis://127.0.0.1:6379/0",
    "redis://localhost",
    "redis://cache.internal:6380/3",
    "redis://:s3cret@cache:6379/1",
    "redis://rhone:p%40ss@cache:6379",
    "rediss://rhone:pw@cache.example:6390/2",
    "redis://cache/5",
    "redis://cache?db=4",
    "unix:///var/run/redis/redis.sock",
    "unix:///tmp/r.sock?db=2",
]


@pytest.mark.parametrize("url", URLS)
def test_a_redis_url_reads_as_redis_py_reads_it(url: str) -> None:
    theirs = parse_url(url)
    ours = RedisAddress.parse(url)
    assert ours.path == theirs.get("path", "")
    if not ours.path:
        assert (ours.host, ours.port) == (theirs.get("host", "localhost"), theirs.get("port", 6379))
    assert ours.db == int(theirs.get("db", 0) or 0)
    assert ours.username == (theirs.get("username") or "")
    assert ours.password == (theirs.get("password") or "")
    assert ours.tls == (theirs.get("connection_class") is SSLConnection)


def test_another_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisAddress.parse("http://cache:6379")


def test_the_facade_does_not_import_redis_py() -> None:
    code = "import sys, services.facade.__main__; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
