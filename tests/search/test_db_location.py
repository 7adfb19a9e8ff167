"""`--db` takes a file path; a URL is refused before anything is written (it once made a folder `postgresql:`)."""

import pytest


@pytest.mark.parametrize(
    ("command", "db", "said"),
    [
        (["index", "lib"], "postgresql://editor@/photos", "PostgreSQL library"),
        (["search", "猫"], "postgres://editor@nas:5432/photos", "PostgreSQL library"),
        (["serve"], "postgresql://editor@/photos?host=/run/postgresql", "PostgreSQL library"),
        (["library", "info"], "mysql://editor@nas/photos", "known: postgresql://, postgres://"),
    ],
)
def test_a_url_is_refused_and_nothing_is_written(cli, tmp_path, monkeypatch, command, db, said):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lib").mkdir()
    result = cli(*command, "--db", db)
    err = result.stderr
    assert result.returncode == 2 and said in err and "--db" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib"]
