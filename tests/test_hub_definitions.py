"""The Meltano Hub definitions of tap-cliniko and target-paypal (`hub/`, written by
`scripts/hub_definitions.py` from meltano.yml) are up to date, pass the Hub's own schema, say
what meltano.yml says, and work: a new Meltano project adds both with `meltano add --from-ref`
and lists their settings, without reaching any network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from new_project import BIN, REPO, init_project, load_hub_script, meltano
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

# The Hub's schemas for plugin definitions (hub/README.md says where they come from).
HUB_SCHEMAS = REPO / "hub" / "schemas"

hub = load_hub_script()
PLUGINS = {plugin.name: plugin for plugin in hub.HUB}


def published(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / PLUGINS[name].path).read_text())  # type: ignore[no-any-return]


def meltano_yml_block(name: str) -> dict[str, Any]:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    kind = PLUGINS[name].plugin_type
    return next(p for p in project["plugins"][kind] if p["name"] == name)  # type: ignore[no-any-return]


# --- generated, and up to date -----------------------------------------------------------------
def test_generated_files_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert hub.main(["--check"]) == 0, capsys.readouterr().out


def test_check_names_a_definition_meltano_yml_has_moved_past(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(REPO / "hub", tmp_path / "hub", ignore=shutil.ignore_patterns("schemas"))
    for package in hub.PACKAGES:
        (tmp_path / package).mkdir()
        shutil.copy(REPO / package / "pyproject.toml", tmp_path / package)
    text = (REPO / "meltano.yml").read_text()
    changed = text.replace("label: Page size", "label: Records per page", 1)
    assert changed != text
    (tmp_path / "meltano.yml").write_text(changed)
    monkeypatch.setattr(hub, "REPO", tmp_path)
    before = (tmp_path / PLUGINS["tap-cliniko"].path).read_text()

    assert hub.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "hub/extractors/tap-cliniko/cliniko-paypal.yml is out of date" in out
    assert "target-paypal" not in out
    assert (tmp_path / PLUGINS["tap-cliniko"].path).read_text() == before

    assert hub.main([]) == 0
    assert "label: Records per page" in (tmp_path / PLUGINS["tap-cliniko"].path).read_text()
    assert hub.main(["--check"]) == 0


def test_a_pyproject_without_the_url_markers_is_an_error() -> None:
    with pytest.raises(SystemExit, match="contract/pyproject.toml: no '# project.urls"):
        hub.with_urls('[project]\nname = "x"\n', "contract")


# --- what the definitions say ------------------------------------------------------------------
def hub_validator(plugin_type: str) -> Draft7Validator:
    """The validator the Hub's CI uses (its utility_scripts/plugin_definitions/
    plugin_schema_validate.py): draft 7, every schema registered under its `$id`."""
    resources = []
    for path in sorted(HUB_SCHEMAS.rglob("*.schema.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema, DRAFT7)))
    top_path = HUB_SCHEMAS / "plugin_definitions" / f"{plugin_type}.schema.json"
    top = json.loads(top_path.read_text())
    return Draft7Validator(top, registry=Registry().with_resources(resources))


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_definition_passes_the_hubs_schema(name: str) -> None:
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in hub_validator(PLUGINS[name].plugin_type).iter_errors(published(name))
    ]
    assert not errors, errors


def test_the_hubs_schema_refuses_what_the_hub_refuses() -> None:
    definition = published("target-paypal")
    validator = hub_validator("loaders")
    assert not validator.is_valid({**definition, "maintainance_status": "beta"})  # misspelt key
    assert not validator.is_valid({k: v for k, v in definition.items() if k != "quality"})
    assert not validator.is_valid({**definition, "capabilities": ["discover"]})  # a tap's
    wrong_kind = [{**definition["settings"][0], "kind": "secret"}]
    assert not validator.is_valid({**definition, "settings": wrong_kind})


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_definition_says_what_meltano_yml_says(name: str) -> None:
    definition, block = published(name), meltano_yml_block(name)
    plugin = PLUGINS[name]
    assert definition["variant"] == "cliniko-paypal"
    assert definition["pip_url"] == f"git+{hub.REPOSITORY}#subdirectory={plugin.package}"
    assert definition["repo"] == hub.REPOSITORY
    for key in ("namespace", "executable", "settings_group_validation"):
        assert definition[key] == block[key], key
    assert sorted(definition["capabilities"]) == sorted(block["capabilities"])
    assert [s["name"] for s in definition["settings"]] == [s["name"] for s in block["settings"]]
    for ours, theirs in zip(definition["settings"], block["settings"], strict=True):
        for key in ("kind", "description", "value", "sensitive", "label"):
            if key in theirs:
                assert ours[key] == theirs[key], (theirs["name"], key)
        assert ours["label"], theirs["name"]
    # `meltano add --from-ref` copies it into meltano.yml, which Meltano's schema refuses.
    assert "supported_python_versions" not in definition


def test_secrets_are_sensitive_in_the_definitions() -> None:
    def sensitive(name: str) -> set[str]:
        return {s["name"] for s in published(name)["settings"] if s.get("sensitive")}

    assert sensitive("tap-cliniko") == {"api_key"}
    assert {"client_secret", "alert_urls"} <= sensitive("target-paypal")


def test_labels_missing_from_meltano_yml_are_made_from_the_name() -> None:
    assert hub.label_from_name("store_url") == "Store URL"
    assert hub.label_from_name("invoicer_tax_id") == "Invoicer tax ID"
    assert hub.label_from_name("retry_backoff_base_ms") == "Retry backoff base (ms)"


# --- a new Meltano project adds them ----------------------------------------------------------
@pytest.fixture(scope="module")
def new_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made by `meltano init`, to which both definitions were added by `--from-ref`,
    uninstalled (`--no-install`: the pip_url names the public repository)."""
    project = init_project(tmp_path_factory.mktemp("hub"))
    for name, plugin in sorted(PLUGINS.items()):
        ref = str(REPO / plugin.path)
        done = meltano(project, "add", name, "--from-ref", ref, "--no-install")
        assert done.returncode == 0, done.stdout + done.stderr
    return project


def test_meltano_add_from_ref_declares_each_plugin_once_under_its_type(new_project: Path) -> None:
    plugins = yaml.safe_load((new_project / "meltano.yml").read_text())["plugins"]
    assert {kind: [p["name"] for p in found] for kind, found in plugins.items()} == {
        "extractors": ["tap-cliniko"],
        "loaders": ["target-paypal"],
    }
    tap = plugins["extractors"][0]
    assert tap["pip_url"] == f"git+{hub.REPOSITORY}#subdirectory=tap-cliniko"
    assert tap["variant"] == "cliniko-paypal"


def test_the_new_project_is_valid_for_meltano(new_project: Path) -> None:
    schema_path = next((BIN.parent / "lib").glob("python3*/site-packages/meltano/schemas"))
    schema = json.loads((schema_path / "meltano.schema.json").read_text())
    project = yaml.safe_load((new_project / "meltano.yml").read_text())
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in Draft202012Validator(schema).iter_errors(project)
    ]
    assert not errors, errors


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_meltano_config_list_shows_every_setting(new_project: Path, name: str) -> None:
    done = meltano(new_project, "config", "list", name, "--all")
    assert done.returncode == 0, done.stderr
    prefix = name.upper().replace("-", "_")
    for setting in meltano_yml_block(name)["settings"]:
        env = f"{prefix}_{setting['name'].upper()}"
        assert f"{setting['name']} [env: {env}]" in done.stdout, setting["name"]
    required = ", ".join(meltano_yml_block(name)["settings_group_validation"][0])
    assert f"Required settings: {required}" in done.stdout
