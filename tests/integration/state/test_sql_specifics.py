"""What only the SQL backend promises: bare database URLs work with the drivers we ship, and
several processes can share one SQLite file without losing updates."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from lambda_connect.state import open_store


def _bare(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return scheme.split("+", 1)[0] + "://" + rest


@pytest.mark.parametrize(
    "fixture",
    [pytest.param("postgres_url", marks=pytest.mark.postgres), pytest.param("mariadb_url", marks=pytest.mark.mariadb)],
)
def test_bare_database_urls_open_a_working_store(request: pytest.FixtureRequest, fixture: str) -> None:
    from lambda_connect.state.sql import SqlStateStore

    url = _bare(request.getfixturevalue(fixture))
    assert "+" not in url.split("://")[0]
    store = SqlStateStore(url, table_prefix=f"lc{uuid.uuid4().hex[:10]}_")
    try:
        store.create_connector("c", {"connector.class": "FileStreamSink"})
        assert store.get_connector("c").version == 1
    finally:
        store.drop_tables()
        store.close()


def test_processes_sharing_a_sqlite_file_lose_no_update(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store = open_store(url)
    store.create_connector("shared", {"n": "0"})
    worker = textwrap.dedent(
        f"""
        import sys
        from lambda_connect.state import open_store
        store = open_store({url!r})
        for i in range(25):
            store.update_connector("shared", {{"writer": sys.argv[1], "i": str(i)}})
            store.add_active_topics("shared", [f"{{sys.argv[1]}}-{{i}}"])
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", worker, str(n)]) for n in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]

    assert store.get_connector("shared").version == 1 + 3 * 25
    assert len(store.get_active_topics("shared")) == 3 * 25
    store.close()
