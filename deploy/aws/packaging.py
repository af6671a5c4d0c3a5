"""Building a function's deployment package: a zip that is byte-for-byte the same for the same
code and dependencies, so its content hash names it and an unchanged function is not redeployed.

A package holds `lambdas/__init__.py`, the shared contract `lambdas/shared/`, the function's own
package `lambdas/<function>/` and what its `requirements.txt` installs. boto3 is not installed:
the Lambda runtime provides it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.aws.errors import DeployError

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"
SHARED = "shared"
# Every entry of a package gets this time (the earliest a zip can hold) and mode.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16  # a regular file, readable by the runtime's user


@dataclass(frozen=True)
class Platform:
    """What the dependencies are installed for: pip's platform arguments."""

    name: str
    pip_arguments: tuple[str, ...]


# The python3.12 runtime on arm64 runs Amazon Linux 2023 (glibc 2.34): any manylinux wheel up to
# that glibc works. pip does not widen an aarch64 --platform to older or newer glibc tags by
# itself, so each is listed.
LAMBDA_GLIBC_MINOR = 34
LAMBDA_ARM64 = Platform(
    "Lambda python3.12 arm64",
    (
        "--platform",
        "manylinux2014_aarch64",
        *(
            argument
            for minor in range(17, LAMBDA_GLIBC_MINOR + 1)
            for argument in ("--platform", f"manylinux_2_{minor}_aarch64")
        ),
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
    ),
)
# This machine's interpreter: for running a package here (the package tests).
LOCAL = Platform("this machine", ())

Installer = Callable[[Path, Path, Platform], None]


@dataclass(frozen=True)
class Package:
    function: str
    path: Path
    sha256: str

    @property
    def key(self) -> str:
        """Its name in the artifacts bucket: a new build of the same code has the same key."""
        return f"functions/{self.function}-{self.sha256}.zip"


def functions() -> list[str]:
    """The function packages under lambdas/ (every directory but the shared contract)."""
    return sorted(
        path.name
        for path in LAMBDAS.iterdir()
        if path.is_dir() and path.name != SHARED and (path / "handler.py").exists()
    )


def requirements(requirements_file: Path) -> list[str]:
    """The requirement lines of a requirements.txt (comments and blanks dropped)."""
    if not requirements_file.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in requirements_file.read_text().splitlines())
    return [line for line in lines if line]


def pip_install(requirements_file: Path, target: Path, platform: Platform) -> None:
    """Install a function's requirements into `target` for `platform` with this Python's pip."""
    if not requirements(requirements_file):
        return
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        # .pyc files embed timestamps; the runtime compiles what it imports anyway.
        "--no-compile",
        "--target",
        str(target),
        "--requirement",
        str(requirements_file),
        *platform.pip_arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        shown = (
            requirements_file.relative_to(ROOT)
            if requirements_file.is_relative_to(ROOT)
            else requirements_file
        )
        raise DeployError(
            f"could not install {shown} for {platform.name}:\n" + "\n".join(output[-15:])
        )


def build_package(
    function: str,
    build_dir: Path,
    platform: Platform = LAMBDA_ARM64,
    install: Installer = pip_install,
) -> Package:
    """Build `lambdas/<function>` with its dependencies into `build_dir/<function>.zip`."""
    source = LAMBDAS / function
    if not (source / "handler.py").exists():
        raise DeployError(f"there is no function {function!r} under {LAMBDAS.relative_to(ROOT)}/")
    staging = build_dir / function
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    install(source / "requirements.txt", staging, platform)
    _copy_sources(staging / "lambdas", function)
    archive = build_dir / f"{function}.zip"
    write_zip(staging, archive)
    return Package(function, archive, hashlib.sha256(archive.read_bytes()).hexdigest())


def _copy_sources(target: Path, function: str) -> None:
    target.mkdir(exist_ok=True)
    shutil.copy2(LAMBDAS / "__init__.py", target / "__init__.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt")
    for package in (SHARED, function):
        shutil.copytree(LAMBDAS / package, target / package, ignore=ignore)


def write_zip(directory: Path, archive: Path) -> None:
    """Zip `directory` so that the same files give the same bytes: sorted entries, one fixed
    time and mode, whatever the files' own times, order on disk or permissions."""
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in _files(directory):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), _ZIP_TIME)
            info.external_attr = _FILE_MODE
            info.create_system = 3  # Unix, so the runtime honours the mode
            info.compress_type = zipfile.ZIP_DEFLATED
            zipped.writestr(info, path.read_bytes(), compresslevel=9)


def _files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*"), key=lambda p: p.relative_to(directory).as_posix()):
        parts = path.relative_to(directory).parts
        if not path.is_file() or path.suffix == ".pyc" or "__pycache__" in parts:
            continue
        if parts[0] == "bin":  # pip's console scripts, with this machine's interpreter path
            continue
        yield path
