"""`--db` takes a file path or a PostgreSQL URL; a server that cannot be reached or a scheme zhclip does not know
is one line before anything is written (a URL once made a folder `postgresql:`)."""

import pytest


@pytest.mark.parametrize(
    ("command", "db", "said"),
    [
        (["index", "lib"], "postgresql://editor@127.0.0.1:1/photos", "cannot reach the PostgreSQL server"),
        (["search", "猫"], "postgres://editor@127.0.0.1:1/photos", "cannot reach the PostgreSQL server"),
        (["serve"], "postgresql://editor@/photos?host=/nonexistent/zhclip", "cannot reach the PostgreSQL server"),
        (["library", "info"], "mysql://editor@nas/photos", "known: postgresql://, postgres://"),
    ],
)
def test_a_url_is_refused_and_nothing_is_written(cli, tmp_path, monkeypatch, command, db, said):
    if db.startswith("postgres"):
        pytest.importorskip("psycopg", reason="without the postgres extra the message names it instead")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lib").mkdir()
    result = cli(*command, "--db", db)
    err = result.stderr
    assert result.returncode == 2 and said in err and "--db" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib"]
