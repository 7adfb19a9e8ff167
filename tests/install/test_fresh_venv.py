"""`pip install zhclip` as a new user does it: build the wheel from this tree, install it with its default
dependencies into a fresh virtualenv (torch 2.13.0 from this machine's disk), and run the main jobs there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.install.session import check_outputs, main_jobs, run_zhclip, serve_and_query

ROOT = Path(__file__).resolve().parents[2]
TORCH = "torch==2.13.0"  # the CPU build that lies on this machine's disk (Makefile pins the same)
# Installing torch into each new venv took 297 s here (2 busy cores; it unpacks ~800 MB). It is installed once
# into this folder instead and each venv reaches it through a .pth file, as if the user had installed torch
# first; pip in the venv then sees torch (and its own dependencies) as installed.
TORCH_SITE = Path(os.environ.get("ZHCLIP_TEST_TORCH_SITE", Path.home() / ".cache/zhclip-tests")) / (
    f"{TORCH.replace('==', '-')}-py{sys.version_info.major}{sys.version_info.minor}"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this tree, built from a copy (a build writes zhclip.egg-info into the source folder)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        env=_outside_checkout(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return next(out.glob("zhclip-*.whl"))


def test_wheel_is_complete(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "src"
    data = [
        p
        for p in (package / "zhclip").rglob("*")
        if p.is_file() and p.suffix in (".pt", ".txt", ".json", ".js", ".css", ".html")
    ]
    assert "zhclip/assets/demo_model.pt" in names and "zhclip/models/vocab.txt" in names
    assert {str(p.relative_to(package)) for p in data} <= names
    assert not any(n.startswith("tests/") for n in names)


def _outside_checkout() -> dict[str, str]:
    """This environment without this checkout on the path (pip would take its src/ for an installed zhclip)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _environment(home: Path) -> dict[str, str]:
    """The user's environment: nothing of this checkout on the path, caches of its own, no downloads."""
    return {**_outside_checkout(), "HOME": str(home), "ZHCLIP_CACHE_DIR": str(home / "cache"), "HF_HUB_OFFLINE": "1"}


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        env=_outside_checkout(),
    )
    assert done.returncode == 0, done.stderr[-3000:]


def torch_site() -> Path:
    """A folder holding only torch and its dependencies (made once, atomically)."""
    if not TORCH_SITE.is_dir():
        staging = TORCH_SITE.with_name(TORCH_SITE.name + f".tmp{os.getpid()}")
        _pip(Path(sys.executable), "--target", str(staging), TORCH)
        staging.rename(TORCH_SITE)
    return TORCH_SITE


def fresh_venv(path: Path) -> Path:
    """A new virtualenv (no system site-packages) that sees torch; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "zhclip-test-torch.pth").write_text(f"{torch_site()}\n")
    return python


@pytest.mark.slow
def test_fresh_virtualenv_runs_the_main_jobs(wheel, tiny_checkpoints, tmp_path):
    """Minutes: installing the default dependencies dominates (plus torch once per machine, see TORCH_SITE)."""
    python = fresh_venv(tmp_path / "venv")
    start = time.perf_counter()
    _pip(python, str(wheel))
    print(f"venv: {wheel.name} with its default dependencies installed in {time.perf_counter() - start:.0f} s")
    env, work = _environment(tmp_path / "home"), tmp_path / "work"
    work.mkdir()
    extras = subprocess.run(
        [str(python), "-c", "import json, zhclip.extras as e; print(json.dumps(e.installed_extras()))"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        check=True,
    )
    assert not any(json.loads(extras.stdout).values()), extras.stdout  # a default install has no extra
    outputs = []
    for job in main_jobs(work, tiny_checkpoints["pt"]):
        result = run_zhclip(python, job, env, cwd=work)
        last = (result.stdout.strip().splitlines() or [""])[-1][:160]
        print(f"$ zhclip {' '.join(job)}\n  exit {result.returncode}; {last}")
        assert result.returncode == 0 and "Traceback" not in result.stderr, (job, result.stderr[-3000:])
        outputs.append(result.stdout)
    check_outputs(work)
    assert "zhclip/assets/demo_model.pt" in outputs[0] and "RANDOM" not in outputs[0]  # the wheel's demo model
    status = serve_and_query(python, work / "library.db", env)
    print(f"$ zhclip serve --db library.db  ->  /api/status counts {status['counts']}")
    assert status["counts"]["images"] == 6
