"""The unit of work: one transaction per service command, with the repositories on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lakeworks.errors import Conflict, InvalidInput
from lakeworks.store.activity import ActivityRepo
from lakeworks.store.amps import AmpRepo
from lakeworks.store.applications import ApplicationRepo
from lakeworks.store.audit import AuditRepo
from lakeworks.store.data import DataConnectionRepo, IcebergRepo
from lakeworks.store.database import check_migrated, make_engine
from lakeworks.store.datasets import DataRepo
from lakeworks.store.jobs import JobRepo
from lakeworks.store.model_metrics import ModelMetricsRepo
from lakeworks.store.models import ModelRepo
from lakeworks.store.projects import ProjectRepo
from lakeworks.store.sessions import SessionRepo
from lakeworks.store.users import UserRepo
from lakeworks.store.workloads import WorkloadRepo


class UnitOfWork:
    """Repositories sharing one SQLAlchemy session; committed by ``Store.transaction``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.users = UserRepo(session)
        self.projects = ProjectRepo(session)
        self.audit = AuditRepo(session)
        self.workloads = WorkloadRepo(session)
        self.jobs = JobRepo(session)
        self.models = ModelRepo(session)
        self.model_metrics = ModelMetricsRepo(session)
        self.sessions = SessionRepo(session)
        self.applications = ApplicationRepo(session)
        self.amps = AmpRepo(session)
        self.data_connections = DataConnectionRepo(session)
        self.iceberg = IcebergRepo(session)
        self.data = DataRepo(session)
        self.activity = ActivityRepo(session)

    def flush(self) -> None:
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise Conflict("That conflicts with something that already exists.") from exc


class Store:
    """Owns the engine; hands out units of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    def check_migrated(self) -> None:
        check_migrated(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """Commit when the block ends normally, roll back when it raises."""
        with self._sessions() as session:
            uow = UnitOfWork(session)
            try:
                yield uow
                session.commit()
            except IntegrityError as exc:
                session.rollback()
                raise Conflict("That conflicts with something that already exists.") from exc
            except DataError as exc:
                # PostgreSQL refuses what SQLite stores (NUL bytes, strings over a column's
                # length): bad input, not a server error.
                session.rollback()
                raise InvalidInput(
                    "A value is too long or holds characters that cannot be stored."
                ) from exc
            except BaseException:
                # BaseException: a cancelled request must not leave a half-written transaction.
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
