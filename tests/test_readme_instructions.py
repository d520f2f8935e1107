"""The READMEs' instructions for adding tap-cliniko and target-paypal to another Meltano project
say what the Hub definitions say, and work: the answers the tables give to `meltano add
--custom` make the plugin's block, offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from new_project import REPO, init_project, load_hub_script, meltano

hub = load_hub_script()
PLUGINS = {plugin.name: plugin for plugin in hub.HUB}
# The answers each plugin's README gives to `meltano add --custom`'s prompts, in their order.
CUSTOM_ANSWERS = {
    "tap-cliniko": [
        "tap_cliniko",
        f"git+{hub.REPOSITORY}#subdirectory=tap-cliniko",
        "tap-cliniko",
        "about,catalog,discover,schema-flattening,state,stream-maps,structured-logging",
        "api_key:password,start_date:date_iso8601,user_agent,base_url",
    ],
    "target-paypal": [
        "target_paypal",
        f"git+{hub.REPOSITORY}#subdirectory=target-paypal",
        "target-paypal",
        "client_id,client_secret:password,base_url,invoicer_email:email",
    ],
}
SENSITIVE = {"tap-cliniko": "api_key", "target-paypal": "client_secret"}
# Meltano's prompts, in order (a loader is not asked for capabilities).
PROMPTS = ["namespace", "pip_url", "executable", "capabilities", "settings"]


def readme(name: str) -> str:
    return (REPO / PLUGINS[name].package / "README.md").read_text()


def definition(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / PLUGINS[name].path).read_text())  # type: ignore[no-any-return]


def raw_url(path: Path) -> str:
    """A file of the repository's main branch as GitHub serves it raw."""
    owner_and_name = hub.REPOSITORY.removeprefix("https://github.com/")
    return f"https://raw.githubusercontent.com/{owner_and_name}/main/{path}"


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_readme_gives_the_definitions_pip_url_and_from_ref(name: str) -> None:
    text = readme(name)
    assert f"pip_url: {definition(name)['pip_url']}" in text
    assert f"pip install '{definition(name)['pip_url']}'" in text
    assert f"meltano add {name} --from-ref {raw_url(PLUGINS[name].path)}" in text
    assert f"(../{PLUGINS[name].path})" in text  # the link to the definition file


def test_root_readme_gives_both_pip_urls() -> None:
    text = (REPO / "README.md").read_text()
    for name in PLUGINS:
        assert definition(name)["pip_url"] in text, name


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_readme_custom_answers_make_the_plugins_block(name: str, tmp_path: Path) -> None:
    answers = CUSTOM_ANSWERS[name]
    # The README's table: | `(prompt)` | `answer` ... |, one row per prompt, in order.
    table = re.findall(r"^\| `\((\w+)\)` \| `([^`]+)`", readme(name), re.MULTILINE)
    asked = [q for q in PROMPTS if q != "capabilities" or PLUGINS[name].plugin_type == "extractors"]
    assert [prompt for prompt, _ in table] == asked
    assert [answer for _, answer in table] == answers

    project = init_project(tmp_path)
    done = meltano(
        project, "add", "--custom", "--no-install", name, answers="\n".join(answers) + "\n"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    plugins = yaml.safe_load((project / "meltano.yml").read_text())["plugins"]
    assert list(plugins) == [PLUGINS[name].plugin_type]
    (block,) = plugins[PLUGINS[name].plugin_type]
    expected = definition(name)
    for key in ("namespace", "pip_url", "executable"):
        assert block[key] == expected[key], key
    if name.startswith("tap-"):
        assert sorted(block["capabilities"]) == expected["capabilities"]
    secret = next(s for s in block["settings"] if s["name"] == SENSITIVE[name])
    assert secret.get("sensitive") is True
    declared = {s["name"] for s in expected["settings"]}
    assert {s["name"] for s in block["settings"]} <= declared
