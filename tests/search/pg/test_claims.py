"""Several indexers on one PostgreSQL library: claims never overlap, a killed indexer's claims lapse and are
taken over, every file is stored once, and a file stored meanwhile is not queued again."""

from __future__ import annotations

import threading

import numpy as np

from tests.polling import eventually
from zhclip.media import MediaInfo
from zhclip.search.pg.claims import ClaimedWork, WorkQueue
from zhclip.search.pg.store import PgStore
from zhclip.search.scan import ScannedFile

from .library import DIM

FILES = [ScannedFile(f"/lib/{n:03d}.jpg", 100 + n, n, "image") for n in range(120)]


def index_batch(store: PgStore, queue: WorkQueue, batch: list[ScannedFile], stored: list[str]) -> None:
    """What an indexer does with a claimed batch: store the files it still holds, in one transaction."""
    with store.transaction():
        held = queue.finish(f.path for f in batch)
        for file in batch:
            if file.path in held:
                vector = np.eye(1, DIM, file.size % DIM, dtype=np.float32)
                content_id = store.add_content(f"h{file.size}", "image", MediaInfo(8, 8), [None], vector)
                store.put_file(file, content_id)
                stored.append(file.path)


def test_indexers_claim_apart_and_take_over_a_killed_ones_claims(pg_url):
    stores = [PgStore(pg_url) for _ in range(3)]
    queues = [WorkQueue(store.conn, f"indexer{n}", lease_s=0.5) for n, store in enumerate(stores)]
    assert queues[0].enqueue(FILES) == 120 and queues[1].enqueue(FILES) == 0  # the second scan adds nothing
    killed = queues[2].claim(10)  # then it dies: no renewal, no finish, no release
    stored: dict[int, list[str]] = {0: [], 1: []}

    def run(n: int) -> None:
        while queues[n].waiting():
            batch = queues[n].claim(7)
            queues[n].renew()
            index_batch(stores[n], queues[n], batch, stored[n])

    workers = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    for worker in workers:
        worker.start()
    eventually(lambda: not any(w.is_alive() for w in workers), "the two live indexers finish the queue")
    everything = stored[0] + stored[1]
    assert sorted(everything) == [f.path for f in FILES]  # each file once, the killed one's too
    assert {f.path for f in killed} <= set(everything)
    assert stores[0].conn.execute("SELECT count(*) FROM files").fetchone()[0] == 120
    assert queues[0].enqueue(FILES) == 0  # stored as they are: nothing to do
    changed = [ScannedFile(FILES[0].path, 1, 1, "image")]
    assert queues[0].enqueue(changed) == 1 and queues[1].claim(5) == changed
    assert queues[2].finish([changed[0].path]) == set()  # not its claim any more
    assert queues[1].release() == 1 and queues[0].claim(5) == changed
    for store in stores:
        store.close()


def test_two_claims_at_once_take_different_files(pg_url):
    stores = [PgStore(pg_url) for _ in range(2)]
    queues = [WorkQueue(store.conn) for store in stores]
    queues[0].enqueue(FILES[:20])
    with stores[0].transaction():  # the first claim's rows stay locked until it commits
        first = queues[0].claim(8)
        second = queues[1].claim(100)  # skips the locked rows instead of waiting for them
    assert len(first) == 8 and len(second) == 12 and not {f.path for f in first} & {f.path for f in second}
    for store in stores:
        store.close()


def test_an_indexer_claims_only_under_its_own_roots(pg_url):
    store = PgStore(pg_url)
    files = [ScannedFile(path, 1, 1, "image") for path in ("/nas/a/1.jpg", "/nas/ab/2.jpg", "/nas/b/3.jpg", "/one.jpg")]
    everything = WorkQueue(store.conn)
    assert everything.enqueue(files) == 4
    scoped = WorkQueue(store.conn, roots=["/nas/a", "/one.jpg"])  # /nas/ab is not under /nas/a
    assert (scoped.waiting(), scoped.unclaimed()) == (2, 2)
    assert [f.path for f in scoped.claim(10)] == ["/nas/a/1.jpg", "/one.jpg"]
    assert (scoped.waiting(), scoped.unclaimed()) == (2, 0)  # held by itself now; the others are not its business
    assert [f.path for f in everything.claim(10)] == ["/nas/ab/2.jpg", "/nas/b/3.jpg"]
    store.close()


def test_waiting_for_peers_takes_over_a_dead_ones_claims_and_leaves_a_live_ones(pg_url):
    store, peer_store = PgStore(pg_url), PgStore(pg_url)
    with ClaimedWork(store, [], FILES[:4], (), lease_s=0.6, batch=10) as work:
        peer = WorkQueue(peer_store.conn, "peer", lease_s=0.6)
        assert len(peer.claim(4)) == 4  # it dies holding them
        assert list(work) == []
        assert work.wait_for_peers(lambda held: None)  # lapsed: to claim again
        assert len(list(work)) == 4 and work.finish(f.path for f in FILES[:4]) == {f.path for f in FILES[:4]}

        peer.enqueue(FILES[4:6])
        assert len(peer.claim(2)) == 2
        stopped = threading.Event()

        def heartbeat() -> None:
            while not stopped.wait(0.1):
                peer.renew()

        beats = threading.Thread(target=heartbeat)
        beats.start()
        looks: list[int] = []
        assert not work.wait_for_peers(looks.append)  # renewed past the wait: left to the live peer
        stopped.set()
        beats.join()
        assert looks and set(looks) == {2}
    assert peer.waiting() == 2
    store.close()
    peer_store.close()


def test_renewing_skips_the_files_being_finished_instead_of_waiting(pg_url):
    store, heartbeat_store = PgStore(pg_url), PgStore(pg_url)
    heartbeat_store.conn.execute("SET statement_timeout = '10s'")  # a wait fails the test instead of hanging it
    queue, heartbeat = WorkQueue(store.conn, "me"), WorkQueue(heartbeat_store.conn, "me")
    queue.enqueue(FILES[:4])
    assert len(queue.claim(4)) == 4
    with store.transaction():  # the storing transaction holds the finished row until it commits
        assert queue.finish([FILES[0].path]) == {FILES[0].path}
        assert heartbeat.renew() == 3
    assert heartbeat.renew() == 3
    store.close()
    heartbeat_store.close()


def test_storing_the_same_new_contents_at_once_waits_instead_of_deadlocking(pg_url):
    """Two indexers storing new contents h1 and h2 in opposite orders: without the content locks each would wait
    on the other's insert (a deadlock that fails a batch); with them the second waits for the first's commit."""
    first, second, watcher = PgStore(pg_url), PgStore(pg_url), PgStore(pg_url)
    queues = [WorkQueue(first.conn), WorkQueue(second.conn)]
    vector = np.eye(1, DIM, dtype=np.float32)
    stored: list[list[int]] = []

    def store_in(store: PgStore, queue: WorkQueue, order: list[str]) -> None:
        with store.transaction():
            queue.lock_contents(set(order))
            stored.append([store.add_content(h, "image", MediaInfo(8, 8), [None], vector) for h in order])

    with first.transaction():
        queues[0].lock_contents({"h1", "h2"})
        first.add_content("h1", "image", MediaInfo(8, 8), [None], vector)
        other = threading.Thread(target=store_in, args=(second, queues[1], ["h2", "h1"]))
        other.start()
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        eventually(lambda: watcher.conn.execute(waiting).fetchone()[0] == 1, "the second indexer waits for the first")
        first.add_content("h2", "image", MediaInfo(8, 8), [None], vector)
    other.join()
    assert sorted(stored[0]) == [row[0] for row in first.conn.execute("SELECT id FROM contents ORDER BY id")]
    for store in (first, second, watcher):
        store.close()
