"""The trash through `--mount`: a machine that sees a root elsewhere moves files where it sees them, and
records the library's paths, so a machine that sees the root where it was indexed lists and restores them."""

from __future__ import annotations

from zhclip.search import Reader
from zhclip.search.mounts import Mounts
from zhclip.search.trash import TRASH, restore, trash_files, trashed

from .media import photo


def test_a_trash_action_by_a_mounting_machine_is_restored_by_another(tmp_path, index):
    nas, db = tmp_path / "nas" / "footage", tmp_path / "lib.db"
    for n in range(2):
        photo(nas / "day" / f"{n}.jpg", n)
    index(db, nas)
    elsewhere = tmp_path / "mnt" / "footage"  # the other machine sees the folder only here
    elsewhere.parent.mkdir()
    nas.rename(elsewhere)
    roots = [str(nas)]
    mounted = Mounts.resolve(roots, [("footage", str(elsewhere))])
    file_id = Reader(db).file_by_path(str(nas / "day" / "1.jpg")).id

    action = trash_files(Reader(db), roots, [file_id], mounted)
    assert action.moves == [(str(nas / "day" / "1.jpg"), str(nas / TRASH / action.id / "day" / "1.jpg"))]
    assert not (elsewhere / "day" / "1.jpg").exists() and (elsewhere / TRASH / action.id / "day" / "1.jpg").is_file()
    assert Reader(db).counts()["files"] == 1  # its row went, by the library's path

    assert [a.id for a in trashed(roots, mounted)] == [action.id]

    elsewhere.rename(nas)  # back on the first machine, which sees the folder where it was indexed
    assert [a.id for a in trashed(roots)] == [action.id]
    assert restore(roots, action.id).paths == [str(nas / "day" / "1.jpg")]  # by the machine that sees nas
    assert (nas / "day" / "1.jpg").is_file() and not (nas / TRASH / action.id).exists()
