import threading

from zhclip.search import Query

from .media import photo


def test_concurrent_searches_while_indexing(tmp_path, index, searcher):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    photo(lib / "first.jpg", 0)
    index(db, lib)
    for i in range(1, 120):
        photo(lib / "more" / f"p{i:03d}.jpg", i)
    s = searcher(db)
    errors: list[BaseException] = []
    counts = [0] * 4
    done = threading.Event()

    def query(slot: int) -> None:
        while not done.is_set():
            try:
                # the whole ranked list: the tiny random model's scores hold no match to cut at
                assert s.search(Query(text="照片", top=5, min_score=-1))
                assert len(s.library.index) >= 1  # what /api/status does, from a request thread, during reloads
                s.library.reader.counts()
                counts[slot] += 1
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=query, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        summary = index(db, lib)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a search or index reload hung (deadlock)"
    assert not errors, errors[:3]
    assert summary.new == 119 and min(counts) > 0
    assert s.library.reader.counts()["files"] == 120
