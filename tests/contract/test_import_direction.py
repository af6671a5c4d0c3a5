"""One import direction: the deployed functions stand alone, and nothing imports upwards.

lambdas/ is packaged on its own (with boto3, twilio and Powertools), so it imports none of the
project's other parts; deploy/ and loadgen/ run without Django; the portal and the benches may
use loadgen and deploy, and nothing but the tests imports the tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN: dict[str, set[str]] = {
    "lambdas": {"deploy", "loadgen", "polls", "portal", "bench", "tests", "django"},
    "deploy": {"loadgen", "polls", "portal", "bench", "tests", "django"},
    "loadgen": {"polls", "portal", "bench", "tests", "django"},
    "polls": {"bench", "tests"},
    "portal": {"bench", "tests"},
    "bench": {"tests"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level names every import in `path` reaches, at module level or inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_check_sees_imports_inside_functions_too(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "import os\n\ndef f():\n    from polls.models import Poll\n    import bench.x\n"
    )

    assert imported_packages(module) == {"os", "polls", "bench"}


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_a_part_imports_none_of_the_parts_it_must_not(part):
    crossings = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[part])
        for path in sorted((ROOT / part).rglob("*.py"))
        if "migrations" not in path.parts
    }

    assert {path: names for path, names in crossings.items() if names} == {}
    assert crossings  # the part has modules, so the check read something
