"""Two indexers re-reading the text of one content at once (PgStore.save_lines): its lines are stored once,
the later reading's, never both."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tests.polling import eventually
from zhclip.media import MediaInfo
from zhclip.search.pg.store import PgStore, open_connection
from zhclip.search.text.lines import TextLine

FIRST = [TextLine("海报设计", 0.0, 1.0), TextLine("北京南站", 1.0, 2.0)]
SECOND = [TextLine("海报设计", 0.0, 1.0), TextLine("北京南站", 1.0, 2.0), TextLine("欢迎", 2.0, 3.0)]


def one_content(store: PgStore) -> int:
    vector = np.ones((1, 16), np.float32) / 4
    with store.transaction():
        return store.add_content("hash0", "image", MediaInfo(64, 48, None, None), [None], vector)


def test_two_savers_of_one_content_store_its_lines_once(pg_url):
    first, second = PgStore(pg_url), PgStore(pg_url)
    watcher = open_connection(pg_url)  # autocommit: each look at pg_stat_activity is fresh
    content_id = one_content(first)
    first_saved = threading.Event()

    def waits_on_a_lock(pid: int) -> bool:
        query = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
        return watcher.execute(query, [pid]).fetchone()[0] == "Lock"

    def save_first() -> None:
        """Save, then keep the transaction open until the second saver is inside its own, waiting."""
        with first.transaction():
            first.save_lines(content_id, "speech", FIRST)
            first_saved.set()
            eventually(lambda: waits_on_a_lock(second.conn.info.backend_pid), "the second saver waits on a lock")

    def save_second() -> None:
        assert first_saved.wait(timeout=60), "the first saver never saved"
        with second.transaction():
            second.save_lines(content_id, "speech", SECOND)

    with ThreadPoolExecutor(2) as pool:
        savers = [pool.submit(save_first), pool.submit(save_second)]
        for saver in savers:
            saver.result(timeout=120)
    stored = watcher.execute("SELECT text FROM text_lines WHERE content_id = %s ORDER BY start", [content_id])
    assert [text for (text,) in stored] == [line.text for line in SECOND]
    assert watcher.execute("SELECT count(*) FROM text_contents").fetchone()[0] == 1
    for conn in (first, second, watcher):
        conn.close()
