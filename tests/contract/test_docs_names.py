"""Every name the docs give in backticks exists: repository paths (`polls/admin.py`, globs too),
bare file names (`voters.py`), our modules' dotted names (`lifecycle.after_close`,
`bench.dashboard`), modules run with `python -m` or imported, and `manage.py` commands.

Only what is recognisably ours is checked; setting names, AWS fields, S3 keys and paths with
placeholders (`polls/<slug>/index.html`) are left alone. A rename that leaves a doc behind
fails here, naming the document and the name.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGES = ("portal", "polls", "lambdas", "deploy", "loadgen", "bench", "tests")
TOP_FOLDERS = (*PACKAGES, "docs")

_BACKTICKED = re.compile(r"`([^`\n]+)`")
_REPOSITORY_PATH = re.compile(rf"(?:{'|'.join(TOP_FOLDERS)})(?:/[\w.*-]+)*/?")
_FILE_NAME = re.compile(r"[\w*-]+\.py(?:::\w+)?")
_DOTTED = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\([^()]*\))?")
_RUN_MODULE = re.compile(r"(?:^|\s)(?:python3?(?:\.\d+)? -m|import) ([\w.]+)")
_MANAGE_COMMAND = re.compile(r"manage\.py (\w+)")
# A dotted token ending in one of these is a file name (`template.yaml`), not an attribute.
_FILE_SUFFIXES = frozenset(
    {"py", "json", "html", "css", "js", "mjs", "yaml", "yml", "txt", "md", "toml", "png", "csv"}
)


def backticked(document: Path) -> Iterator[str]:
    yield from _BACKTICKED.findall(document.read_text(encoding="utf-8"))


@cache
def our_modules() -> dict[str, list[str]]:
    """Each of our modules and packages by its last name: "lifecycle" ->
    ["polls.services.lifecycle"]."""
    modules: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.setdefault(parts[-1], []).append(".".join(parts))
    return modules


def missing_path(token: str) -> str | None:
    """None if the repository path (or glob) exists, else why not."""
    found = list(ROOT.glob(token.rstrip("/"))) if "*" in token else [ROOT / token.rstrip("/")]
    if not found or not found[0].exists():
        return f"no file or folder {token}"
    if token.endswith("/") and not found[0].is_dir():
        return f"{token} is not a folder"
    return None


def missing_file_name(token: str) -> str | None:
    """None if a file of that name exists at the top or in one of our folders (and, for
    `file.py::name`, defines `name`)."""
    name, _, function = token.partition("::")
    files = [*ROOT.glob(name), *(p for folder in TOP_FOLDERS for p in (ROOT / folder).rglob(name))]
    if not files:
        return f"no file named {name} at the top or in {', '.join(TOP_FOLDERS)}"
    if not function:
        return None
    definition = re.compile(rf"^\s*(?:async )?(?:def|class) {function}\b", re.MULTILINE)
    if not any(definition.search(path.read_text()) for path in files):
        return f"{name} defines no {function}"
    return None


def _import(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and module.startswith(error.name):
            return None  # the module itself (or a parent) does not exist
        raise


def missing_dotted_name(token: str) -> str | None:
    """None if `module.attribute…` exists; the first segment is one of our packages
    (`polls.services.exports`) or a module's last name (`exports.neutralise`), and one of our
    modules of that name must have the rest."""
    first, *rest = token.split(".")
    starts = [first] if first in PACKAGES else our_modules()[first]
    looked_in = []
    for module_name in starts:
        attributes = rest
        # The longest prefix that is a module; the rest are attributes of it.
        while attributes and _import(f"{module_name}.{attributes[0]}") is not None:
            module_name, attributes = f"{module_name}.{attributes[0]}", attributes[1:]
        found: object = _import(module_name)
        for attribute in attributes:
            found = getattr(found, attribute, None)
        if found is not None:
            return None
        looked_in.append(module_name)
    return f"{token} names nothing in {', '.join(looked_in)}"


def missing_module(module: str) -> str | None:
    return None if _import(module) is not None else f"no module {module}"


def missing_command(command: str) -> str | None:
    return None if command in get_commands() else f"manage.py has no command {command}"


CHECKS = {
    "path": missing_path,
    "file name": missing_file_name,
    "dotted name": missing_dotted_name,
    "module": missing_module,
    "command": missing_command,
}


def names_of_ours(token: str) -> list[tuple[str, str]]:
    """(kind of name, name) for each name of ours in one backticked token."""
    names = []
    if _REPOSITORY_PATH.fullmatch(token):
        names.append(("path", token))
    elif _FILE_NAME.fullmatch(token):
        names.append(("file name", token))
    elif (dotted := _DOTTED.fullmatch(token)) and _is_ours(dotted.group(1)):
        names.append(("dotted name", dotted.group(1)))
    names += [
        ("module", module)
        for module in _RUN_MODULE.findall(token)
        if module.split(".")[0] in PACKAGES
    ]
    names += [("command", command) for command in _MANAGE_COMMAND.findall(token)]
    return names


def _is_ours(dotted: str) -> bool:
    first, *rest = dotted.split(".")
    return rest[-1] not in _FILE_SUFFIXES and (first in PACKAGES or first in our_modules())


def problems(token: str) -> list[str]:
    """What is wrong with the names of ours in a backticked token ([]: they all exist)."""
    return [
        problem
        for kind, name in names_of_ours(token)
        if (problem := CHECKS[kind](name)) is not None
    ]


def named_in_docs() -> list[tuple[str, str]]:
    """(document, token) for every backticked token that names something of ours."""
    found = {
        (str(document.relative_to(ROOT)), token)
        for document in DOCUMENTS
        for token in backticked(document)
        if names_of_ours(token)
    }
    return sorted(found)


NAMED = named_in_docs()


@pytest.mark.parametrize(("document", "token"), NAMED, ids=[f"{d}:{t}" for d, t in NAMED])
def test_every_name_the_docs_give_exists(document, token):
    assert problems(token) == []


def test_the_names_of_each_kind_are_found_in_the_docs():
    names = set(NAMED)

    assert ("docs/ARCHITECTURE.md", "lifecycle.after_close") in names
    assert ("docs/ARCHITECTURE.md", "organisers.polls_of(user)") in names
    assert ("README.md", "deploy/template.yaml") in names
    assert ("docs/ARCHITECTURE.md", "deploy/aws/") in names
    assert ("docs/ARCHITECTURE.md", "python -m deploy.local") in names
    assert ("README.md", "manage.py seed_demo") in names


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("polls/services/lifecycle.py", []),
        ("tests/deploy/test_template*.py", []),
        ("polls/no_such_module.py", ["no file or folder polls/no_such_module.py"]),
        ("polls/admin.py/", ["polls/admin.py/ is not a folder"]),
        ("voters.py", []),
        ("manage.py", []),
        (
            "no_such_module.py",
            ["no file named no_such_module.py at the top or in " + ", ".join(TOP_FOLDERS)],
        ),
        ("test_ingest.py::test_vote_is_stored_pseudonymously_with_coarse_origin", []),
        ("test_ingest.py::test_nothing", ["test_ingest.py defines no test_nothing"]),
        ("lifecycle.after_close", []),
        ("organisers.polls_of(user)", []),
        ("polls.services.exports", []),
        ("handler.answer_webhook", []),
        (
            "lifecycle.close_later",
            ["lifecycle.close_later names nothing in polls.services.lifecycle"],
        ),
        ("polls.services.nothing", ["polls.services.nothing names nothing in polls.services"]),
        ("python -m deploy.local", []),
        ("python -m deploy.stack", ["no module deploy.stack"]),
        ("manage.py recount SLUG", []),
        ("manage.py recount_all", ["manage.py has no command recount_all"]),
    ],
)
def test_a_name_that_does_not_exist_is_reported(token, expected):
    assert problems(token) == expected


@pytest.mark.parametrize(
    "token",
    [
        "polls/<slug>/index.html",  # an S3 key with a placeholder
        "userIdentity.principalId",  # a field of a stream record
        "template.yaml",  # a file name, not an attribute
        "dynamodb.amazonaws.com",
        "import boto3",
        "PUBLIC_WEBHOOK_URL",
        "data/stack-outputs.json",  # made at run time
    ],
)
def test_names_that_are_not_ours_are_left_alone(token):
    assert names_of_ours(token) == []
