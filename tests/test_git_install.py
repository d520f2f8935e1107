"""Another Meltano project installs tap-cliniko and target-paypal from a clone of this repository,
as the READMEs and the Hub definitions say: `pip_url: git+<repository>#subdirectory=<package>`,
here `git+file://` this repository (uv clones its HEAD: what is committed, not the work tree),
through Meltano's own installer (uv), with dependencies from uv's cache only, no network.

target-paypal depends on the contract by a path relative to its own folder
(`{root:parent:uri}/contract`): hatchling resolves it inside the git checkout, so the one
subdirectory is enough, and the contract comes from the same commit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from new_project import REPO, init_project, load_hub_script, meltano

hub = load_hub_script()


def git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def commit() -> str:
    """This repository's HEAD: what a `git+file://` URL of it installs."""
    return git("rev-parse", "HEAD")


@pytest.fixture(scope="module")
def installed(commit: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new project with both plugins added from their Hub definitions (their pip_url pointed
    at this repository) and installed by `meltano add`."""
    project = init_project(tmp_path_factory.mktemp("adopter"))
    for plugin in hub.HUB:
        definition = yaml.safe_load((REPO / plugin.path).read_text())
        assert definition["pip_url"] == f"git+{hub.REPOSITORY}#subdirectory={plugin.package}"
        definition["pip_url"] = f"git+file://{REPO}#subdirectory={plugin.package}"
        ref = project / f"{plugin.name}.yml"
        ref.write_text(yaml.safe_dump(definition))
        done = meltano(project, "add", plugin.name, "--from-ref", str(ref))
        assert done.returncode == 0, (
            f"{plugin.name} did not install from {definition['pip_url']} (uv offline: its "
            "dependencies come from uv's cache, which `make install` fills):\n"
            + done.stderr[-3000:]
        )
    return project


def venv_python(project: Path, kind: str, name: str) -> Path:
    return project / ".meltano" / kind / name / "venv" / "bin" / "python"


def installed_from(python: Path, distribution: str) -> dict:
    """The PEP 610 record of where `distribution` was installed from."""
    code = (
        "import sys; from importlib import metadata; "
        "print(metadata.distribution(sys.argv[1]).read_text('direct_url.json'))"
    )
    done = subprocess.run([str(python), "-c", code, distribution], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_target_paypal_and_its_contract_come_from_the_same_commit(
    installed: Path, commit: str
) -> None:
    python = venv_python(installed, "loaders", "target-paypal")
    for distribution, package in (
        ("target-paypal", "target-paypal"),
        ("cliniko-paypal-contract", "contract"),
    ):
        origin = installed_from(python, distribution)
        assert origin["url"] == f"file://{REPO}", distribution
        assert origin["vcs_info"]["commit_id"] == commit, distribution
        assert origin["subdirectory"] == package, distribution


@pytest.mark.parametrize(
    ("name", "settings"), [("tap-cliniko", "api_key"), ("target-paypal", "client_secret")]
)
def test_the_installed_plugins_run(installed: Path, name: str, settings: str) -> None:
    done = meltano(installed, "invoke", name, "--about", "--format=json")
    assert done.returncode == 0, done.stderr[-3000:]
    about = json.loads(done.stdout)
    assert about["name"] == name
    assert settings in about["settings"]["properties"]
