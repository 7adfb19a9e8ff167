import os
import time

import pytest
from PIL import Image

from zhclip.errors import InputError
from zhclip.search import Filters, NotFoundError, Query, Reader
from zhclip.search.dupes import find_dupes

from .media import COLORS, photo, solid, video


@pytest.fixture
def library(tmp_path, index):
    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    for color in ("red", "blue", "green"):
        solid(lib / "solid" / f"{color}.png", color)
    photo(lib / "misc" / "random.jpg", 1)
    (lib / "misc" / "random_copy.jpg").write_bytes((lib / "misc" / "random.jpg").read_bytes())
    video(lib / "clips" / "movie.mp4", ["yellow", "green"])
    old = time.mktime((2015, 6, 1, 0, 0, 0, 0, 0, -1))
    os.utime(lib / "solid" / "red.png", (old, old))
    index(db, lib)
    return lib, db


def _color_query(encoder, color):
    return encoder.encode_image(Image.new("RGB", (160, 120), COLORS[color]))


def test_image_query_finds_the_same_picture_first(library, searcher, encoder):
    lib, db = library
    results = searcher(db).search(Query(image=_color_query(encoder, "blue"), top=3))
    assert results[0].path == str(lib / "solid" / "blue.png")
    assert results[0].score == pytest.approx(1.0, abs=0.01)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_filters_type_path_and_date(library, searcher, encoder):
    lib, db = library
    s = searcher(db)
    q = _color_query(encoder, "red")
    videos = s.search(Query(image=q, filters=Filters(kind="video")))
    assert [r.kind for r in videos] == ["video"] and videos[0].start is not None
    in_misc = s.search(Query(image=q, filters=Filters(path_contains="MISC")))
    assert {os.path.basename(r.path) for r in in_misc} == {"random.jpg", "random_copy.jpg"}
    before_2016 = s.search(Query(image=q, filters=Filters(before=time.mktime((2016, 1, 1, 0, 0, 0, 0, 0, -1)))))
    assert [os.path.basename(r.path) for r in before_2016] == ["red.png"]
    after_2016 = s.search(Query(image=q, filters=Filters(after=time.mktime((2016, 1, 1, 0, 0, 0, 0, 0, -1)))))
    assert "red.png" not in {os.path.basename(r.path) for r in after_2016}


def test_filtered_results_and_counts_follow_a_new_indexing_run(library, searcher, encoder, index):
    """Filter masks and counts are kept between queries; an indexing commit must refresh both."""
    lib, db = library
    s = searcher(db)
    in_misc = Filters(path_contains="misc")
    q = _color_query(encoder, "red")
    assert len(s.search(Query(image=q, filters=in_misc))) == 2
    files_before = s.library.counts()["files"]
    solid(lib / "misc" / "new_red.png", "red")
    index(db, lib)
    names = {os.path.basename(r.path) for r in s.search(Query(image=q, filters=in_misc))}
    assert names == {"random.jpg", "random_copy.jpg", "new_red.png"}
    assert s.library.counts()["files"] == files_before + 1


def test_negative_drops_results_closer_to_it(library, searcher, encoder, monkeypatch):
    lib, db = library
    s = searcher(db)
    red, blue = _color_query(encoder, "red"), _color_query(encoder, "blue")
    monkeypatch.setattr(s.encoder, "encode_text", lambda text: {"red": red, "blue": blue}[text])
    plain = s.search(Query(image=(red + blue) / 2, top=10))
    without_blue = s.search(Query(image=(red + blue) / 2, negative="blue", top=10))
    assert str(lib / "solid" / "blue.png") in {r.path for r in plain}
    assert str(lib / "solid" / "blue.png") not in {r.path for r in without_blue}
    assert str(lib / "solid" / "red.png") in {r.path for r in without_blue}


def test_min_score_top_similar_and_errors(library, searcher):
    lib, db = library
    s = searcher(db)
    blue = Reader(db).file_by_path(str(lib / "solid" / "blue.png"))
    similar = s.similar(blue.id, query=Query(top=2))
    assert len(similar) == 2 and blue.path not in {r.path for r in similar}
    assert s.search(Query(text="蓝色", min_score=1.5)) == []
    with pytest.raises(NotFoundError):
        s.similar(10_000)
    with pytest.raises(InputError):
        s.search(Query())


def test_dupes_groups_identical_and_near_identical(library, searcher):
    lib, db = library
    s = searcher(db)
    groups = find_dupes(s.library.reader, s.library.index, threshold=0.999)
    names = [sorted(os.path.basename(r.path) for r in g) for g in groups]
    assert ["random.jpg", "random_copy.jpg"] in names


def test_a_repeated_text_query_skips_the_text_tower(encoder, monkeypatch):
    first = encoder.encode_text("海边的日落")
    monkeypatch.setattr(encoder, "_encode_text", lambda text: pytest.fail("encoded again"))
    again = encoder.encode_text("海边的日落")
    assert again is first and not again.flags.writeable
