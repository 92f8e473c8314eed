"""One active scheduler: a leader lock held in the database, taken over when its holder dies.

Several scheduler processes may run (a deploy overlapping the old one, a second worker dyno, ``make run`` next to
a ``flask scheduler``); only the one holding the lock runs jobs, the others stand by and try again at each tick.

- On PostgreSQL the lock is a session-level advisory lock (``pg_try_advisory_lock``) taken on a dedicated
  connection. It lives exactly as long as that connection: when the process dies, PostgreSQL drops the connection
  and the lock with it, and the next standby's attempt succeeds.
- Elsewhere (SQLite) it is a row of the ``lease`` table with an expiry, renewed by the leader at every tick and by
  a heartbeat. A dead leader stops renewing; after ``ttl`` seconds any standby takes the lease over.

``ensure()`` is the one call a scheduler makes: "am I the leader now?" — it acquires, renews or re-checks as needed
and never raises for a database hiccup (it answers False and logs, so a standby never runs jobs by mistake).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, create_engine, delete, insert, or_, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from ..db import Database
from ..models import Lease

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leader(Protocol):
    name: str
    owner: str

    def ensure(self) -> bool:
        """True when this process holds the lock now (acquiring or renewing it if need be)."""

    def release(self) -> None:
        """Give the lock up (at a clean shutdown), so a standby takes over without waiting."""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` derived from the lock's name."""
    digest = hashlib.sha256(f"aggregator:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLockLeader:
    """PostgreSQL advisory lock on a connection of its own (not from the app's pool, never returned to it)."""

    def __init__(self, database: Database, name: str = "scheduler", owner: str | None = None) -> None:
        self.name = name
        self.owner = owner or default_owner()
        self.key = advisory_key(name)
        # NullPool: the connection is ours alone and closing it really closes it (and frees the lock).
        self._engine = create_engine(database.engine.url, poolclass=NullPool,
                                     isolation_level="AUTOCOMMIT")
        self._conn: Connection | None = None
        self._held = False

    @property
    def is_leader(self) -> bool:
        return self._held

    def ensure(self) -> bool:
        try:
            if self._held and self._conn is not None:
                self._conn.execute(text("SELECT 1"))  # still connected means still holding
                return True
            if self._conn is None:
                self._conn = self._engine.connect()
            got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
        except SQLAlchemyError as exc:
            if self._held:
                log.error("leader lock %r lost: its database connection failed (%s); standing by",
                          self.name, exc.__class__.__name__)
            else:
                log.warning("leader lock %r: database unavailable (%s); standing by", self.name,
                            exc.__class__.__name__)
            self._drop_connection()
            return False
        if got and not self._held:
            log.info("leader lock %r taken by %s: this scheduler is now active", self.name, self.owner)
        self._held = got
        return got

    def release(self) -> None:
        if self._conn is not None and self._held:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            except SQLAlchemyError:
                pass  # closing the connection below frees it anyway
        self._drop_connection()

    def _drop_connection(self) -> None:
        self._held = False
        if self._conn is not None:
            try:
                self._conn.close()
            except SQLAlchemyError:
                pass
            self._conn = None

    def close(self) -> None:
        self.release()
        self._engine.dispose()


class LeaseLeader:
    """A ``lease`` row with an expiry: taken when free or expired, renewed by its owner, released on shutdown."""

    def __init__(self, database: Database, name: str = "scheduler", owner: str | None = None, ttl: float = 90.0,
                 clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.database = database
        self.name = name
        self.owner = owner or default_owner()
        self.ttl = ttl
        self.clock = clock
        self._held = False

    @property
    def is_leader(self) -> bool:
        return self._held

    def ensure(self) -> bool:
        now = self.clock()
        expires = now + timedelta(seconds=self.ttl)
        try:
            with self.database.engine.begin() as conn:
                # One statement: renew our own lease or take over an expired one.
                taken = conn.execute(
                    update(Lease)
                    .where(Lease.name == self.name)
                    .where(or_(Lease.owner == self.owner, Lease.expires_at < now))
                    .values(owner=self.owner, expires_at=expires)
                ).rowcount
            if not taken:
                try:  # no row yet (or a live one of someone else's: then the insert fails)
                    with self.database.engine.begin() as conn:
                        conn.execute(insert(Lease).values(name=self.name, owner=self.owner, expires_at=expires))
                    taken = 1
                except IntegrityError:
                    taken = 0
        except SQLAlchemyError as exc:
            if self._held:
                log.error("leader lease %r could not be renewed (%s); standing by", self.name,
                          exc.__class__.__name__)
            self._held = False
            return False
        got = bool(taken)
        if got and not self._held:
            log.info("leader lease %r taken by %s: this scheduler is now active", self.name, self.owner)
        elif self._held and not got:
            log.warning("leader lease %r was taken over by another scheduler; standing by", self.name)
        self._held = got
        return got

    def release(self) -> None:
        try:
            with self.database.engine.begin() as conn:
                conn.execute(delete(Lease).where(Lease.name == self.name, Lease.owner == self.owner))
        except SQLAlchemyError as exc:
            log.warning("leader lease %r not released (%s); it expires on its own", self.name,
                        exc.__class__.__name__)
        self._held = False

    def close(self) -> None:
        self.release()


def make_leader(database: Database, name: str = "scheduler", ttl: float = 90.0, owner: str | None = None,
                clock: Clock = lambda: datetime.now(UTC)) -> AdvisoryLockLeader | LeaseLeader:
    """The advisory lock on PostgreSQL, the lease row anywhere else."""
    if database.engine.dialect.name == "postgresql":
        return AdvisoryLockLeader(database, name, owner)
    return LeaseLeader(database, name, owner, ttl, clock)
