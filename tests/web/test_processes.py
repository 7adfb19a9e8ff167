"""`zhclip serve --processes N`: several server processes on one port, indexing left to `zhclip index`."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from tests.conftest import run_cli
from tests.web.test_browser import serving


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def test_two_processes_serve_the_library_and_refuse_rescans(web_library):
    lib, db, model = web_library
    with serving(db, model, "--processes", "2") as url:
        assert _get(url + "api/status")["counts"]["files"] == 8
        for _ in range(6):  # whichever process takes a request answers it from the library
            found = _get(url + "api/search?" + urllib.parse.urlencode({"q": "红色", "top": 3, "min_score": -1}))
            assert len(found["results"]) == 3
        request = urllib.request.Request(url + "api/rescan", method="POST")
        try:
            urllib.request.urlopen(request, timeout=60)
            raise AssertionError("a rescan was started")
        except urllib.error.HTTPError as exc:
            assert exc.code == 409 and "zhclip index" in json.loads(exc.read())["error"]["message"]


def test_processes_with_watch_is_refused(web_library):
    lib, db, model = web_library
    result = run_cli("serve", "--db", db, "--model", model, "--processes", "2", "--watch")
    assert result.returncode == 2 and "--processes" in result.stderr and "Traceback" not in result.stderr
