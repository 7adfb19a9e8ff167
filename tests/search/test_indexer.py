import os
import sqlite3
from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from zhclip.errors import InputError
from zhclip.search import LibraryError, Query, Reader, model_identity
from zhclip.search.mounts import Mounts, parse_mount, unmounted_twins
from zhclip.search.store import SCHEMA_VERSION

from .media import bad_files, photo, video


def _vectors_by_path(db):
    reader = Reader(db)
    return {
        f.path: reader.content_vectors(f.content_id)[1]
        for f in reader.files_of([r[0] for r in reader.conn.execute("SELECT id FROM contents")])
    }


def test_incremental_rescan_update_delete_rename_and_duplicates(tmp_path, index):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for i in range(4):
        photo(lib / f"p{i}.jpg", i)
    (lib / "copy").mkdir()
    (lib / "copy" / "p0_again.jpg").write_bytes((lib / "p0.jpg").read_bytes())
    first = index(db, lib)
    assert (first.new, first.unchanged, first.removed, first.failed) == (5, 0, 0, [])
    reader = Reader(db)
    assert reader.counts()["contents"] == 4, "identical files share one content (encoded once)"
    assert first.reused == 1
    before = _vectors_by_path(db)

    again = index(db, lib)
    assert (again.new, again.updated, again.unchanged, again.removed) == (0, 0, 5, 0)

    os.rename(lib / "p1.jpg", lib / "moved.jpg")
    (lib / "p2.jpg").unlink()
    photo(lib / "p3.jpg", 33)  # new content under the old name
    os.utime(lib / "p3.jpg", ns=(1, 1))
    third = index(db, lib)
    assert (third.new, third.updated, third.removed, third.reused) == (1, 1, 2, 1)
    after = _vectors_by_path(db)
    assert set(after) == {str(lib / n) for n in ("p0.jpg", "copy/p0_again.jpg", "moved.jpg", "p3.jpg")}
    np.testing.assert_array_equal(after[str(lib / "moved.jpg")], before[str(lib / "p1.jpg")])
    assert not np.allclose(after[str(lib / "p3.jpg")], before[str(lib / "p3.jpg")])
    assert reader.counts() == {"files": 4, "images": 4, "videos": 0, "contents": 3, "vectors": 3}


def test_bad_files_are_skipped_with_reasons_and_good_files_indexed(tmp_path, index):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    expected = bad_files(lib)
    photo(lib / "good.jpg", 1)
    video(lib / "good.mp4", ["red", "blue"])
    summary = index(db, lib)
    reasons = {os.path.basename(p): r for p, r in summary.failed}
    assert set(reasons) == set(expected)
    for name, word in expected.items():
        assert word in reasons[name], (name, reasons[name])
    assert summary.new == 2
    assert Reader(db).counts()["files"] == 2


def test_heic_exif_orientation_and_date(tmp_path, index):
    import pillow_heif

    pillow_heif.register_heif_opener()
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    lib.mkdir()
    Image.new("RGB", (160, 96), (10, 200, 90)).save(lib / "phone.heic")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°: shown as 120 wide, 200 high
    exif[0x010F], exif[0x0110] = "Canon", "EOS 5D"
    exif.get_ifd(0x8769)[36867] = "2021:05:01 10:30:00"
    photo(lib / "rotated.jpg", 5, (200, 120), exif=exif)
    summary = index(db, lib)
    assert summary.new == 2 and not summary.failed
    reader = Reader(db)
    heic = reader.file_by_path(str(lib / "phone.heic"))
    assert (heic.kind, heic.width, heic.height) == ("image", 160, 96)
    rotated = reader.file_by_path(str(lib / "rotated.jpg"))
    assert (rotated.width, rotated.height, rotated.camera) == (120, 200, "Canon EOS 5D")
    assert rotated.taken_at == datetime(2021, 5, 1, 10, 30).timestamp()


def test_video_segments_have_correct_timestamps(tmp_path, index, searcher, encoder):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    video(lib / "colors.mp4", ["red", "red", "blue", "blue"], seconds_each=2.0)  # blue from 4 s to 8 s
    photo(lib / "other.jpg", 3)
    assert index(db, lib, frame_interval=1.0).new == 2
    times, _ = Reader(db).content_vectors(Reader(db).file_by_path(str(lib / "colors.mp4")).content_id)
    np.testing.assert_allclose(times, np.arange(8.0), atol=0.06)
    blue = encoder.encode_image(Image.new("RGB", (128, 96), (30, 60, 220)))
    results = searcher(db).search(Query(image=blue, top=3))
    best = results[0]
    assert best.kind == "video"
    assert best.start == pytest.approx(4.0, abs=0.06) and best.end == pytest.approx(8.0, abs=0.06)
    assert 4.0 <= best.frame <= 7.1


def test_another_model_is_refused_unless_reindex(tmp_path, index, encoder):
    import zhclip
    from zhclip.models import random_model, save_cnclip
    from zhclip.search import IndexOptions, MediaEncoder, index_library

    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    photo(lib / "a.jpg", 1)
    index(db, lib)
    other_net = random_model("tiny", seed=77)
    save_cnclip(other_net.state_dict(), other_net.config, tmp_path / "other.pt")
    other = MediaEncoder(zhclip.load(tmp_path / "other.pt", device="cpu"))
    with pytest.raises(LibraryError, match="another model"):
        index_library(db, [lib], other)
    summary = index_library(db, [lib], other, IndexOptions(reindex=True))
    assert summary.new == 1
    assert other.identity.matches(Reader(db).meta().model)
    assert not encoder.identity.matches(Reader(db).meta().model)
    same_in_bf16 = zhclip.load(encoder.identity.source, device="cpu", precision="bf16")
    assert model_identity(same_in_bf16).matches(replace(encoder.identity, arch="tiny"))


def test_schema_version_and_foreign_file_refused(tmp_path, index):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    photo(lib / "a.jpg", 1)
    index(db, lib)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t(x)")
    with pytest.raises(LibraryError, match="not a zhclip library"):
        Reader(other)
    newer = sqlite3.connect(db)
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer.close()
    with pytest.raises(LibraryError, match="newer"):
        Reader(db)


def test_mounts_translate_library_paths_and_name_the_roots():
    roots = ("/Volumes/footage", "/a/photos", "/b/photos")
    mounts = Mounts.resolve(roots, [parse_mount("footage=/mnt/nas/footage"), ("/b/photos", "/mnt/b")])
    assert mounts.to_library("/mnt/nas/footage/2024/x.mp4") == "/Volumes/footage/2024/x.mp4"
    assert mounts.to_local("/Volumes/footage/2024/x.mp4") == "/mnt/nas/footage/2024/x.mp4"
    assert mounts.to_local("/Volumes/footage2/x.mp4") == "/Volumes/footage2/x.mp4"  # another root, not under it
    assert mounts.to_library("/mnt/b/y.jpg") == "/b/photos/y.jpg"
    with pytest.raises(InputError, match="more than one root named 'photos'"):
        Mounts.resolve(roots, [("photos", "/mnt/p")])
    with pytest.raises(InputError, match="is not NAME=LOCAL_PATH"):
        parse_mount("/mnt/nas/footage")
    assert unmounted_twins(["/mnt/nas/footage", "/c/videos"], roots) == [("/mnt/nas/footage", "/Volumes/footage")]
