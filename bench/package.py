"""The size of each function's deployment package, built by the deployment's own code
(deploy.aws.packaging.build_package: the function's requirements.lock installed for python3.12 on
arm64 with `pip install --require-hashes --platform manylinux2014_aarch64 --only-binary=:all:
--python-version 3.12 --target`, plus `lambdas/__init__.py`, `lambdas/shared/` and the function's
directory, compiled to byte code, zipped), and whether the package imports its handler with
nothing but what the Lambda runtime provides. pip fetches the wheels from the package index, so
this needs the network the first time.

The import check unzips each package and imports its handler with `python -S` (no
site-packages) and only the package and boto3 with its dependencies on the path, which is what
the runtime offers. It runs on this machine's architecture, so it proves which modules the
handler needs, not that the arm64 binary wheels load (the handlers import none). The cold import
is timed as packaged (its byte code is Python 3.12's: run this on 3.12, as `make bench` does) and
with the byte code deleted.

    python -m bench.package
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bench.common import print_table, write_results
from bench.ingest import set_function_environment
from deploy.aws.packaging import LAMBDA_ARM64, build_package

FUNCTIONS = {"ingest": "lambdas.ingest.handler", "tally": "lambdas.tally.handler"}
# What the Lambda Python runtime brings: boto3 and the packages it depends on.
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "six")
IMPORT_RUNS = 5


def sizes(archive: Path) -> dict[str, Any]:
    with zipfile.ZipFile(archive) as bundle:
        entries = [info for info in bundle.infolist() if not info.is_dir()]
    by_top: dict[str, int] = {}
    for info in entries:
        top = info.filename.split("/", 1)[0]
        if top.endswith(".dist-info"):
            top = "(*.dist-info)"
        by_top[top] = by_top.get(top, 0) + info.file_size
    return {
        "files": len(entries),
        "unzipped_bytes": sum(info.file_size for info in entries),
        "zipped_bytes": archive.stat().st_size,
        "largest_bytes": sorted(by_top.items(), key=lambda pair: -pair[1])[:6],
    }


def runtime_path(directory: Path) -> Path:
    """A directory with only boto3 and its dependencies, linked from this environment."""
    import boto3

    site = Path(boto3.__file__).resolve().parent.parent
    for name in RUNTIME_PACKAGES:
        for candidate in (site / name, site / f"{name}.py"):
            if candidate.exists():
                (directory / candidate.name).symlink_to(candidate)
    return directory


def import_from_package(target: Path, module: str, runtime: Path) -> tuple[float | None, str]:
    """(seconds `import module` takes from the package and the runtime alone, error or "").

    `-B`: nothing is written next to the package, as on Lambda, whose /var/task is read-only.
    """
    code = (
        f"import sys, time; sys.path[:0] = [{str(target)!r}, {str(runtime)!r}]; "
        f"started = time.perf_counter(); import {module}; print(time.perf_counter() - started)"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-c", code],
        cwd=tempfile.gettempdir(),  # not the repository, whose lambdas/ would be found
        env=set_function_environment(dict(os.environ)),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return None, result.stderr.strip().splitlines()[-1]
    return float(result.stdout.strip()), ""


def cold_import_ms(target: Path, module: str, runtime: Path) -> float | None:
    times = [import_from_package(target, module, runtime)[0] for _ in range(IMPORT_RUNS)]
    known = [t for t in times if t is not None]
    return statistics.median(known) * 1000 if known else None


def strip_byte_code(target: Path) -> None:
    """Delete the package's byte code (build_package compiles it, on the runtime's Python)."""
    for cache in sorted(target.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="textvote-packages-") as work:
        runtime = runtime_path(_mkdir(Path(work) / "runtime"))
        for function, module in FUNCTIONS.items():
            package = build_package(function, _mkdir(Path(work) / "build"), LAMBDA_ARM64)
            figures[function] = sizes(package.path)
            unpacked = _mkdir(Path(work) / f"unpacked-{function}")
            with zipfile.ZipFile(package.path) as bundle:
                bundle.extractall(unpacked)
            _, error = import_from_package(unpacked, module, runtime)
            figures[function]["import_error_with_runtime_only"] = error
            if not error:
                # Lambda cannot write __pycache__ next to the code: without byte code in the
                # package, every cold start compiles what it imports.
                figures[function]["cold_import_ms_as_packaged"] = cold_import_ms(
                    unpacked, module, runtime
                )
                strip_byte_code(unpacked)
                figures[function]["cold_import_ms_without_byte_code"] = cold_import_ms(
                    unpacked, module, runtime
                )
    print_table(
        "deployment packages (python3.12, arm64), as built for Lambda",
        ["function", "files", "unzipped MB", "zipped MB", "largest parts (MB)", "imports alone"],
        [
            [
                function,
                package["files"],
                package["unzipped_bytes"] / 1e6,
                package["zipped_bytes"] / 1e6,
                ", ".join(
                    f"{name} {size / 1e6:.1f}" for name, size in package["largest_bytes"][:3]
                ),
                package["import_error_with_runtime_only"] or "yes",
            ]
            for function, package in figures.items()
        ],
    )
    print_table(
        f"cold import of the handler from its unpacked package, runtime boto3 only "
        f"(median of {IMPORT_RUNS}, this machine's Python)",
        ["function", "as packaged (with byte code) ms", "without byte code ms"],
        [
            [
                function,
                package.get("cold_import_ms_as_packaged") or "-",
                package.get("cold_import_ms_without_byte_code") or "-",
            ]
            for function, package in figures.items()
        ],
    )
    write_results(
        "package", {"packages": figures, "pip_arguments": " ".join(LAMBDA_ARM64.pip_arguments)}
    )


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    main()
