"""The job code shipped to s3://BUCKET/code/: the fruits wheel, the step's entry script, the bootstrap script.

The wheel is built from this source checkout (`pip wheel --no-deps` in a scratch copy, so the checkout gets no
build/ folder), or given with --wheel. Its dependencies are not in it: the bootstrap script installs them,
pinned, into the cluster's Python 3.11 venv.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .bucket import CODE_PREFIX
from .errors import PackageError

BOOTSTRAP_NAME = "bootstrap.sh"
ENTRY_NAME = "fruits_emr_entry.py"


@dataclass(frozen=True)
class CodeLocations:
    """Where the code lives in the bucket."""

    bucket: str
    wheel_name: str

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{CODE_PREFIX}{name}"

    @property
    def wheel_uri(self) -> str:
        return self.uri(self.wheel_name)

    @property
    def bootstrap_uri(self) -> str:
        return self.uri(BOOTSTRAP_NAME)

    @property
    def entry_uri(self) -> str:
        return self.uri(ENTRY_NAME)


def bootstrap_script_path() -> Path:
    return Path(str(resources.files("fruits.cloud").joinpath(BOOTSTRAP_NAME)))


def entry_script_path() -> Path:
    return Path(str(resources.files("fruits.cloud").joinpath("emr_entry.py")))


def source_root() -> Path | None:
    """The checkout this package runs from (the folder holding pyproject.toml and src/fruits), if any."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        pyproject = parent / "pyproject.toml"
        if pyproject.is_file() and (parent / "src" / "fruits").is_dir() and 'name = "fruits"' in pyproject.read_text():
            return parent
    return None


def check_wheel(path: str | Path) -> Path:
    wheel = Path(path).expanduser()
    if not wheel.is_file():
        raise PackageError(f"wheel not found: {wheel}")
    if not (wheel.name.startswith("fruits-") and wheel.name.endswith(".whl")):
        raise PackageError(f"{wheel.name} is not a fruits wheel (expected fruits-VERSION-py3-none-any.whl)")
    return wheel


def build_wheel(out_dir: Path, root: Path | None = None) -> Path:
    """Build the fruits wheel into `out_dir` from a scratch copy of the checkout; return its path."""
    root = root or source_root()
    if root is None:
        raise PackageError("cannot find the fruits source checkout to build the wheel: pass --wheel FILE")
    scratch = Path(tempfile.mkdtemp(prefix="fruits-wheel-src-"))
    try:
        for name in ("pyproject.toml", "README.md", "setup.cfg", "setup.py", "LICENSE"):
            if (root / name).is_file():
                shutil.copy2(root / name, scratch / name)
        shutil.copytree(root / "src", scratch / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        # First with the setuptools already installed (fast, offline); if it is older than pyproject's
        # build-system asks for, pip builds in an isolated environment it fills from the package index.
        result = _pip_wheel(scratch, out_dir, isolated=False)
        if result.returncode != 0:
            result = _pip_wheel(scratch, out_dir, isolated=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    wheels = sorted(out_dir.glob("fruits-*.whl"))
    if result.returncode != 0 or not wheels:
        lines = (result.stderr + "\n" + result.stdout).strip().splitlines()
        reasons = [line.strip() for line in lines if "error" in line.lower()] or lines[-1:] or ["no output"]
        raise PackageError(f"building the fruits wheel failed: {reasons[-1][:200]} (or pass --wheel FILE)")
    return wheels[-1]


def _pip_wheel(source: Path, out_dir: Path, isolated: bool) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out_dir), str(source)]
    if not isolated:
        command.insert(5, "--no-build-isolation")
    return subprocess.run(command, capture_output=True, text=True, check=False)


def code_files(wheel: Path) -> dict[str, Path]:
    """{file name in s3://BUCKET/code/: local file} of everything a cluster needs."""
    return {wheel.name: wheel, BOOTSTRAP_NAME: bootstrap_script_path(), ENTRY_NAME: entry_script_path()}
