"""Property-based fuzzing of every operation in the server's own OpenAPI spec (schemathesis, in-process
ASGI): valid and invalid inputs, with path ids drawn half the time from files that exist. A response
passes when it is not a 5xx, carries no traceback, and every error is JSON `{"error": {"status", "message"}}`."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

LOOPBACK = "http://127.0.0.1:5000"
SKIPPED = {
    "POST /api/rescan",  # starts background indexing; the load check drives it
    "POST /api/dupes/trash",  # moves the library's files (small ids are real ones); tests/web/test_dupes.py
    "POST /api/trash/{action_id}/restore",
}


@dataclass
class FuzzResult:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # the first few, with the request that caused them
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return self._failed

    _failed: int = 0

    def add(self, label: str, status: int, problem: str | None) -> None:
        self.requests += 1
        self.statuses[status] += 1
        if problem:
            self._failed += 1
            if len(self.problems) < 20:
                self.problems.append(f"{label}: {problem}")


def response_problem(status: int, content_type: str, text: str) -> str | None:
    """What is wrong with a response, or None."""
    if status >= 500:
        return f"server error {status}: {text[:200]}"
    if "Traceback" in text or 'File "' in text:
        return f"traceback in a {status} response"
    if status < 400:
        return None
    if not content_type.startswith("application/json"):
        return f"{status} error is {content_type}, not JSON"
    try:
        error = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        return f"{status} error body is not {{'error': ...}}: {text[:200]}"
    if error.get("status") != status or not str(error.get("message", "")).strip():
        return f"{status} error without a message: {text[:200]}"
    return None


def load_schema(app):
    import schemathesis

    return schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Host": "127.0.0.1:5000"})


def fuzz(app, file_ids: list[int], examples: int, result: FuzzResult | None = None, seed: int = 0) -> FuzzResult:
    """Fuzz every operation of `app` with `examples` positive and `examples` negative cases each."""
    from schemathesis.generation import GenerationMode

    result = result or FuzzResult()
    started = time.monotonic()
    for operation in load_schema(app).get_all_operations():
        operation = operation.ok()
        if operation.label in SKIPPED:
            continue
        for mode in GenerationMode:
            _fuzz_operation(operation, mode, file_ids, examples, result, seed)
    result.seconds = time.monotonic() - started
    return result


def _fuzz_operation(operation, mode, file_ids: list[int], examples: int, result: FuzzResult, seed: int) -> None:
    real_id = st.sampled_from(file_ids) if file_ids else st.nothing()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), file_id=st.one_of(st.none(), real_id))
    def run(case, file_id) -> None:
        if file_id is not None and "file_id" in (case.path_parameters or {}):
            case.path_parameters["file_id"] = file_id
        try:
            response = case.call(base_url=LOOPBACK)
        except Exception as exc:  # the in-process client re-raises what the app did not handle
            result.add(operation.label, 500, f"unhandled {type(exc).__name__}: {exc} for {_describe(case)}")
            return
        problem = response_problem(
            response.status_code, _content_type(response), response.content.decode("utf-8", "replace")
        )
        result.add(operation.label, response.status_code, problem and f"{problem} for {_describe(case)}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
        pass


def _content_type(response) -> str:
    value = response.headers.get("content-type", "")
    return value[0] if isinstance(value, list) else value


def _describe(case) -> str:
    return f"path={case.path_parameters} query={case.query} body={str(case.body)[:100]}"
