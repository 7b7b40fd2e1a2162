"""Fixtures for the loader tests: resources bound to the real PostgreSQL and to SQLite files."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pgserver
import pytest

from dag_io import PostgresResource, TursoResource


@pytest.fixture
def pg(postgres_resource: PostgresResource) -> PostgresResource:
    """PostgresResource on a fresh database of the session's real PostgreSQL server."""
    return postgres_resource


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    """A pgserver data dir for PostgresResource's embedded default, stopped and removed after.

    Not under pytest's tmp dir: as root, pgserver runs postgres as its own user, which cannot
    traverse /tmp/pytest-of-root (mode 700, reset by every pytest session).
    """
    parent = Path(tempfile.mkdtemp(prefix="dag-test-embedded-"))
    yield parent / "postgres"
    if (parent / "postgres" / "PG_VERSION").exists():
        pgserver.get_server(parent / "postgres").cleanup()
    shutil.rmtree(parent)


@pytest.fixture
def turso_file(tmp_path: Path) -> TursoResource:
    """TursoResource on a new local SQLite file (given as a `file:` URL)."""
    return TursoResource(url=f"file:{tmp_path / 'serving' / 'turso.db'}")


def fetch_rows(resource: PostgresResource | TursoResource, sql: str) -> list[tuple]:
    """All rows of a query, through the resource's own ADBC connection."""
    with resource.get_connection() as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


@pytest.fixture
def fetch() -> Callable[[PostgresResource | TursoResource, str], list[tuple]]:
    """`fetch(resource, sql)`: all rows of a query through the resource's ADBC connection."""
    return fetch_rows


@pytest.fixture
def silent_server() -> Iterator[tuple[str, int]]:
    """(host, port) of a TCP listener on loopback that accepts connections and never answers
    (a hung server or a black-holing proxy): clients can only give up by their own timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:  # look at `stop` again
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[:2]
    stop.set()
    thread.join(timeout=5)
    listener.close()
    for sock in accepted:
        sock.close()
