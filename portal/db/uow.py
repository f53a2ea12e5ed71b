"""Unit of work: one transaction per use case.

Services open a :class:`UnitOfWork`, do their reads and writes through its
session, and either leave the block normally (commit) or raise (rollback), so
nothing is ever half-written.
"""

from __future__ import annotations

from types import TracebackType

from sqlmodel import Session

from portal.db.session import new_session


class UnitOfWork:
    """A transaction scope: ``with UnitOfWork() as uow: uow.session.add(...)``."""

    session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = new_session()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.session.commit()
            else:
                self.session.rollback()
        finally:
            self.session.close()
