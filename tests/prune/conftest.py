"""Pruning tests write `auto` measurements to an isolated cache, as the runtime tests do."""

from tests.runtime.conftest import isolated_cache  # noqa: F401
