"""`zhclip library move` and `zhclip library info`: a library whose folder moved is re-rooted, not re-read."""

from __future__ import annotations

import json
import shutil

from zhclip.cli import main
from zhclip.search import Reader

from .media import photo, video


def test_moved_folder_is_re_rooted_and_the_next_run_reads_nothing(tmp_path, index, capsys):
    old, new, db = tmp_path / "disk1" / "photos", tmp_path / "nas" / "photos", tmp_path / "lib.db"
    for i in range(4):
        photo(old / "trip" / f"p{i}.jpg", i)
    video(old / "v.mp4", ["red", "blue"])
    index(db, old)
    ids = {r.id for r in Reader(db).browse(_all(), True, 0, 100)}
    shutil.copytree(old, new)  # keeps modification times, as rsync -a or a drive letter change does
    shutil.rmtree(old)
    assert main(["library", "move", str(old), str(new), "--db", str(db)]) == 0
    assert "re-rooted 5 files (0 not found there, 0 changed there)" in capsys.readouterr().out
    reader = Reader(db)
    assert reader.meta().roots == (str(new),)
    assert {r.id for r in reader.browse(_all(), True, 0, 100)} == ids, "same rows, same ids"
    assert reader.file_by_path(str(new / "trip" / "p2.jpg")).kind == "image"
    again = index(db, new)
    assert (again.new, again.updated, again.unchanged, again.removed) == (0, 0, 5, 0), again.line()

    assert main(["library", "info", "--db", str(db), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["roots"] == [str(new)] and facts["counts"]["files"] == 5 and facts["model"]["arch"] == "tiny"
    assert main(["library", "info", "--db", str(db)]) == 0
    assert f"root    {new}" in capsys.readouterr().out


def test_move_of_an_unknown_root_lists_the_roots(tmp_path, index, capsys):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    photo(lib / "a.jpg", 1)
    index(db, lib)
    assert main(["library", "move", str(tmp_path / "elsewhere"), str(tmp_path / "x"), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "is not a root of the library" in err and str(lib) in err and "Traceback" not in err
    assert main(["library", "move", str(lib), str(lib), "--db", str(db)]) == 2
    assert "already a root" in capsys.readouterr().err
    assert Reader(db).meta().roots == (str(lib),), "nothing changed"


def _all():
    from zhclip.search import Filters

    return Filters()
