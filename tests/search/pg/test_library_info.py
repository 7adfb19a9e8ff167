"""`zhclip library info` on a shared library: each root with the name `--mount` takes for it (its folder's
name, or its whole path where two roots share that name), and the indexers' work queue on PostgreSQL."""

from __future__ import annotations

import json

from zhclip.search.meta import LibraryMeta
from zhclip.search.pg import lines as pg_lines
from zhclip.search.pg.claims import WorkQueue
from zhclip.search.pg.store import PgStore, open_connection
from zhclip.search.scan import ScannedFile

from ..media import photo
from .library import fill


def test_info_names_the_roots_as_mount_takes_them_and_counts_the_queue(cli, pg_url, tmp_path):
    footage, cam_a, cam_b = tmp_path / "nas" / "footage", tmp_path / "a" / "cam", tmp_path / "b" / "cam"
    footage.mkdir(parents=True)
    store = PgStore(pg_url)
    fill(store, pg_lines.save_lines, contents=4)
    with store.transaction():
        store.set_meta(LibraryMeta(roots=(str(footage), str(cam_a), str(cam_b))))
    store.close()
    queue = WorkQueue(open_connection(pg_url), lease_s=600)
    queue.enqueue([ScannedFile(str(footage / f"{n}.jpg"), 10, 1, "image") for n in range(3)])
    assert len(queue.claim(1)) == 1

    facts = json.loads(cli("library", "info", "--db", pg_url, "--json").stdout)
    assert facts["root_names"] == {str(footage): "footage", str(cam_a): str(cam_a), str(cam_b): str(cam_b)}
    assert facts["queue"] == {"waiting": 2, "claimed": 1}
    text = cli("library", "info", "--db", pg_url).stdout
    assert "queue   2 files waiting, 1 claimed by indexers\n" in text
    assert f"root    {footage}  (--mount footage=LOCAL_PATH)\n" in text
    assert f"root    {cam_a}  (not there now)  (--mount {cam_a}=LOCAL_PATH)\n" in text
    queue.conn.close()


def test_an_sqlite_library_has_no_queue(cli, index, tmp_path):
    photo(tmp_path / "photos" / "a.jpg", 1)
    index(tmp_path / "lib.db", tmp_path / "photos")
    facts = json.loads(cli("library", "info", "--db", tmp_path / "lib.db", "--json").stdout)
    assert facts["queue"] is None and facts["root_names"] == {str(tmp_path / "photos"): "photos"}
    assert "queue" not in cli("library", "info", "--db", tmp_path / "lib.db").stdout
