"""A plan `auto` measured while the machine was busy is measured again once the machine is quiet."""

import json

import pytest

from zhclip.runtime import plans

KEY = f"v{plans.PLAN_VERSION}|torch|cpu:x|tiny:1"
PLAN = {"image": "torch-fp32", "text": "torch-int8"}


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ZHCLIP_CACHE_DIR", str(tmp_path))


@pytest.mark.parametrize(
    ("measured_at", "now", "used"),
    [
        (0.5, 0.1, True),  # measured on a quiet machine: kept whatever the load now
        (1.6, 1.2, True),  # measured under load, still busy: kept (measuring again now would be no better)
        (1.6, 0.7, False),  # measured under load, now under half of it: measured again
    ],
)
def test_a_plan_measured_under_load_is_measured_again_when_quiet(monkeypatch, measured_at, now, used):
    monkeypatch.setattr(plans, "load_per_core", lambda: measured_at)
    plans.remember_plan(KEY, PLAN, {}, plans.load_per_core())
    monkeypatch.setattr(plans, "load_per_core", lambda: now)
    assert plans.measured_plan(plans.read_plans(), KEY) == (PLAN if used else None)
    assert plans.read_plans()[KEY]["load_per_core"] == measured_at


def test_a_plan_remembered_before_loads_were_recorded_is_used(monkeypatch):
    plans.cache_path().write_text(json.dumps({KEY: {"plan": PLAN, "results": {}}}))
    monkeypatch.setattr(plans, "load_per_core", lambda: 0.0)
    assert plans.measured_plan(plans.read_plans(), KEY) == PLAN


def test_load_per_core_is_a_fraction_of_the_cpus():
    assert plans.load_per_core() >= 0.0
