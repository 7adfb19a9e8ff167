"""Every operation of the server's own OpenAPI spec, fuzzed in-process: no 5xx, no traceback, every error
JSON with a message. The explicit cases are what the fuzzer found, kept as regression tests."""

from __future__ import annotations

import pytest
from benchmarks.reliability.fuzz import fuzz

from zhclip.search import Library, Reader, Searcher
from zhclip.web import create_app

from .conftest import assert_json_error, client_for

EXAMPLES = 12  # per operation and generation mode (valid, invalid); the long run uses more


@pytest.fixture(scope="module")
def client(good_library, encoder):
    return client_for(good_library[1], encoder)


@pytest.fixture(scope="module")
def video_id(good_library) -> int:
    return Reader(good_library[1]).file_by_path(str(good_library[0] / "good.mp4")).id


def test_openapi_fuzzing_finds_no_server_errors(good_library, encoder):
    reader = Reader(good_library[1])
    ids = [row[0] for row in reader.conn.execute("SELECT id FROM files")]
    result = fuzz(create_app(Searcher(Library(reader, encoder))), ids, EXAMPLES)
    assert result.requests > 100 and {200, 404, 422} <= set(result.statuses), result.statuses
    assert result.failed == 0, "\n".join(result.problems)


@pytest.mark.parametrize(
    "url",
    [
        f"/api/files/{2**63}",
        f"/api/similar/{2**64}",
        f"/api/files/{-(2**70)}/thumbnail",
        "/api/files/{video}/thumbnail?at=inf",
        "/api/files/{video}/thumbnail?at=1e308",
        "/api/files/{video}/clip?start=1e300&end=1e301",
        "/api/files/{video}/clip?start=0&end=inf",
        "/api/similar/{video}?at=1e308",
        "/api/files/{video}/clip?start=nan&end=4",
        "/api/similar/{video}?at=-1",
        "/api/search?q=x&after=0001-01-01",
        "/api/search?q=x&top=100000",
        "/api/search?q=x&min_score=nan",
        "/api/search?q=" + "长" * 600,
    ],
)
def test_edge_values_are_client_errors(client, video_id, url):
    response = client.get(url.format(video=video_id))
    assert_json_error(response)
    assert 400 <= response.status_code < 500
