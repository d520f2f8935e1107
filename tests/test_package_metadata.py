"""Every package of the repository says what a package index and its users need: a version, the
licence (and ships its text), classifiers, and where its code, documentation and issues are."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from new_project import load_hub_script

REPO = Path(__file__).resolve().parents[1]
LICENCE = "MIT"


# The repository's address and the packages, from their one home: the Hub generator.
_HUB = load_hub_script()
REPOSITORY, PACKAGES = _HUB.REPOSITORY, _HUB.PACKAGES


def project(package: str) -> dict[str, Any]:
    text = (REPO / package / "pyproject.toml").read_text()
    return tomllib.loads(text)["project"]  # type: ignore[no-any-return]


def test_every_package_is_listed() -> None:
    found = sorted(p.parent.name for p in REPO.glob("*/pyproject.toml"))
    assert found == sorted(PACKAGES)


def test_the_repository_has_the_licence_the_packages_declare() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.startswith(f"{LICENCE} License\n")
    assert re.search(r"^Copyright \(c\) \d{4} ", text, re.MULTILINE)


@pytest.mark.parametrize("package", PACKAGES)
def test_version_and_licence(package: str) -> None:
    meta = project(package)
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta.get("version", "")), "version: N.N.N"
    assert meta.get("license") == LICENCE, "license: an SPDX expression"
    # An sdist or wheel carries the licence file only from the package's own folder.
    assert (REPO / package / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    assert not any(c.startswith("License ::") for c in meta.get("classifiers", [])), (
        "no License :: classifier beside an SPDX `license` (PEP 639)"
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_description_readme_and_python(package: str) -> None:
    meta = project(package)
    assert len(meta.get("description", "")) > 20
    assert (REPO / package / meta["readme"]).is_file()
    assert meta.get("requires-python") == ">=3.11"


@pytest.mark.parametrize("package", PACKAGES)
def test_classifiers_name_the_python_we_test_on(package: str) -> None:
    classifiers = project(package).get("classifiers", [])
    assert classifiers == sorted(classifiers)
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert any(c.startswith("Topic :: ") for c in classifiers)
    python = re.compile(r"Programming Language :: Python :: 3\.\d+")
    versions = [c for c in classifiers if python.fullmatch(c)]
    assert versions == ["Programming Language :: Python :: 3.11"], (
        "CI runs Python 3.11 only: claim another version once it is tested"
    )


def test_only_the_sandbox_is_never_uploaded() -> None:
    private = [p for p in PACKAGES if "Private :: Do Not Upload" in project(p)["classifiers"]]
    assert private == ["sandbox"]


@pytest.mark.parametrize("package", PACKAGES)
def test_urls_point_at_the_repository_and_the_packages_readme(package: str) -> None:
    urls = project(package).get("urls", {})
    assert urls == {
        "Homepage": REPOSITORY,
        "Documentation": f"{REPOSITORY}/tree/main/{package}#readme",
        "Repository": REPOSITORY,
        "Issues": f"{REPOSITORY}/issues",
    }
