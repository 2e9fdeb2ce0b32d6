"""The SQLite checkpoint thread: never an exception escaping it."""

from __future__ import annotations

from pathlib import Path

from bridge.store.checkpoints import Checkpointer


def test_a_checkpointer_whose_database_is_gone_stops_quietly(tmp_path: Path) -> None:
    """A store opened and closed at once (a CLI refusing its arguments), its folder then
    removed: the thread finds no database to open and ends without an exception (pytest
    fails any test whose thread raised)."""
    checkpointer = Checkpointer(str(tmp_path / "removed" / "crbio.sqlite3"), interval=0.01)
    checkpointer.committed()
    thread = checkpointer._thread
    assert thread is not None
    thread.join(timeout=10)
    assert not thread.is_alive()
    checkpointer.close()
