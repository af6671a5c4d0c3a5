"""Building a function's deployment package: a zip that is byte-for-byte the same for the same
code and dependencies, so its content hash names it and an unchanged function is not redeployed.

A package holds `lambdas/__init__.py`, the shared contract `lambdas/shared/`, the function's own
package `lambdas/<function>/` and what its `requirements.lock` pins (compiled from its
`requirements.txt` by `make lock`, installed with `--require-hashes`, so a deploy ships exactly
the versions the tests ran), each module with its byte code for the runtime's Python. boto3 is
not installed: the Lambda runtime provides it.
"""

from __future__ import annotations

import compileall
import hashlib
import py_compile
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
    """What a package is built for: pip's platform arguments, `uv pip compile`'s for the locks
    (`make lock` reads them), and the Python whose byte code the package ships (None: none)."""

    name: str
    pip_arguments: tuple[str, ...]
    lock_arguments: tuple[str, ...] = ()
    python_version: str | None = None


# The python3.12 runtime on arm64 runs Amazon Linux 2023 (glibc 2.34): any manylinux wheel up to
# that glibc works. pip does not widen an aarch64 --platform to older or newer glibc tags by
# itself, so each is listed.
LAMBDA_PYTHON = "3.12"
LAMBDA_GLIBC_MINOR = 34
# Where Lambda unpacks a package: the file names byte code and tracebacks show.
LAMBDA_TASK_ROOT = "/var/task"
LAMBDA_ARM64 = Platform(
    f"Lambda python{LAMBDA_PYTHON} arm64",
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
        LAMBDA_PYTHON,
        "--implementation",
        "cp",
    ),
    lock_arguments=(
        "--python-platform",
        f"aarch64-manylinux_2_{LAMBDA_GLIBC_MINOR}",
        "--python-version",
        LAMBDA_PYTHON,
        "--only-binary",
        ":all:",
    ),
    python_version=LAMBDA_PYTHON,
)
# This machine's interpreter: for running a package here (the package tests).
LOCAL = Platform("this machine", ())

Installer = Callable[[Path, Path, Platform], None]


@dataclass(frozen=True)
class Package:
    function: str
    path: Path
    sha256: str
    # Why the package ships no byte code for its runtime ("" when it does, or needs none).
    byte_code_skipped: str = ""

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
    """The requirements of a requirements.txt or of a lock (comments, blanks and hashes
    dropped)."""
    if not requirements_file.exists():
        return []
    text = requirements_file.read_text().replace("\\\n", " ")  # a lock's continued lines
    lines = (line.split("#", 1)[0].split(" --hash=", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def pip_install(requirements_file: Path, target: Path, platform: Platform) -> None:
    """Install a function's lock into `target` for `platform` with this Python's pip: every
    package pinned, and refused unless its file has a hash the lock lists."""
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
        "--require-hashes",
        # pip's byte code would be this Python's, with timestamps: compile_byte_code makes it.
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
    install(source / "requirements.lock", staging, platform)
    _copy_sources(staging / "lambdas", function)
    skipped = compile_byte_code(staging, platform.python_version) if platform.python_version else ""
    archive = build_dir / f"{function}.zip"
    write_zip(staging, archive)
    return Package(function, archive, hashlib.sha256(archive.read_bytes()).hexdigest(), skipped)


def compile_byte_code(directory: Path, python_version: str) -> str:
    """Compile every module under `directory` for Python `python_version`; "" once done, or why
    it was not.

    Lambda's /var/task is read-only: without byte code in the package, every cold start compiles
    what it imports (about a third of the ingest's cold import: bench.package). Python ignores byte
    code of another minor version, so only that version's interpreter can make it. The byte code
    is checked against nothing (unchecked-hash: the package never changes once built) and names
    its source under /var/task, so it holds no time and no build path, and the same sources give
    the same bytes.
    """
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != python_version:
        return (
            f"no byte code: this is Python {running} and the runtime's is {python_version}, "
            f"whose byte code only Python {python_version} makes (rebuild .venv with it: README)"
        )
    compiled = compileall.compile_dir(
        directory,
        quiet=1,
        stripdir=str(directory),
        prependdir=LAMBDA_TASK_ROOT,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not compiled:
        raise DeployError(f"could not compile the modules under {directory} to byte code")
    return ""


def _copy_sources(target: Path, function: str) -> None:
    target.mkdir(exist_ok=True)
    shutil.copy2(LAMBDAS / "__init__.py", target / "__init__.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt", "requirements.lock")
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
        if not path.is_file():
            continue
        if parts[0] == "bin":  # pip's console scripts, with this machine's interpreter path
            continue
        yield path
