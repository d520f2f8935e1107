"""The repository's layout holds: packages import one way, no cycles, small modules, one copy of
each schema, and the target installs without the operators' web and report stack."""

from __future__ import annotations

import ast
import hashlib
import subprocess
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
# Each package's import name, folder, and the packages of ours it may import.
PACKAGES = {
    "cliniko_paypal_contract": ("contract", set()),
    "tap_cliniko": ("tap-cliniko", set()),
    "map_cliniko_paypal": ("transforms", {"cliniko_paypal_contract"}),
    "target_paypal": ("target-paypal", {"cliniko_paypal_contract"}),
    "paypal_ops": (
        "paypal-ops",
        {"target_paypal", "map_cliniko_paypal", "tap_cliniko", "cliniko_paypal_contract"},
    ),
    "clinic_sandbox": ("sandbox", set()),
    # The Dagster code location runs the others as `meltano` commands, never imports them.
    "clinic_fleet": ("orchestrate", set()),
}
MAX_LINES = 400  # outside sandbox/ and the tests
# What an installed target-paypal must not bring: a web server, templates, charts.
NOT_IN_THE_TARGET = {"starlette", "uvicorn", "fastapi", "flask", "jinja2", "pygal", "cryptography"}


def modules(package: str) -> dict[str, Path]:
    folder, _ = PACKAGES[package]
    root = REPO / folder / package
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, name: str) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    typing_only = {
        id(inner)
        for node in tree.body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:  # for the type checker only: never imported at run time
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([base] if base else []))
            found.append((base, id(node) in top))
            found += [(f"{base}.{alias.name}", id(node) in top) for alias in node.names]
    return found


def ours(module: str) -> str | None:
    head = module.split(".")[0]
    return head if head in PACKAGES else None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_imports_point_one_way(package: str) -> None:
    allowed = PACKAGES[package][1] | {package}
    wrong = {
        f"{name} imports {module}"
        for name, path in modules(package).items()
        for module, _ in imports(path, name)
        if ours(module) and ours(module) not in allowed
    }
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycle_and_no_late_import_of_our_own(package: str) -> None:
    known = modules(package)
    graph: dict[str, set[str]] = defaultdict(set)
    late = []
    for name, path in known.items():
        for module, at_top in imports(path, name):
            # A module's own parent packages are imported before it anyway: no cycle of theirs.
            if module in known and module != name and not name.startswith(module + "."):
                graph[name].add(module)
            if ours(module) and not at_top:
                late.append(f"{name} imports {module} inside a function")
    assert not late, late
    cycles = [c for start in sorted(graph) if (c := cycle_from(start, graph))]
    assert not cycles, [" -> ".join(c) for c in cycles]


def cycle_from(start: str, graph: dict[str, set[str]]) -> list[str]:
    """A path of imports from `start` back to itself, or []."""
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, trail = stack.pop()
        for child in sorted(graph[node]):
            if child == start:
                return trail + [child]
            if child not in seen:
                seen.add(child)
                stack.append((child, trail + [child]))
    return []


def test_no_module_outside_the_sandbox_and_tests_is_over_400_lines() -> None:
    long = {
        f"{path.relative_to(REPO)}: {n} lines"
        for package in PACKAGES
        if package != "clinic_sandbox"
        for path in modules(package).values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, sorted(long)


def test_no_schema_is_held_twice() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.json"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    seen: dict[str, str] = {}
    copies = []
    for name in tracked:
        if "tests" in Path(name).parts:
            continue
        digest = hashlib.sha256((REPO / name).read_bytes()).hexdigest()
        if digest in seen:
            copies.append(f"{name} = {seen[digest]}")
        seen[digest] = name
    assert not copies, copies
    contract = [n for n in tracked if Path(n).name == "invoice_lines.json"]
    assert contract == ["contract/cliniko_paypal_contract/schemas/invoice_lines.json"], contract


def requirement_names(distribution: str) -> set[str]:
    """The distributions an installed one pulls in, transitively (its extras left out)."""
    pending, found = [distribution], set()
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(canonicalize_name(requirement.name))
    return found


def test_the_target_brings_no_web_server_templates_or_charts() -> None:
    pulled = requirement_names("target-paypal")
    assert "cliniko-paypal-contract" in pulled and "singer-sdk" in pulled
    assert not pulled & NOT_IN_THE_TARGET, sorted(pulled & NOT_IN_THE_TARGET)


def test_paypal_ops_brings_the_target_mapper_tap_and_its_own_stack() -> None:
    pulled = requirement_names("paypal-ops")
    needed = {"target-paypal", "map-cliniko-paypal", "tap-cliniko", "starlette", "jinja2", "pygal"}
    assert needed <= pulled, sorted(needed - pulled)
