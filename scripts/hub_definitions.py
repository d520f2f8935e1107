"""Generate, or check, what other Meltano projects and package indexes read about our plugins.

One source for each fact:

- the plugins' definitions are their blocks in the root `meltano.yml` (namespace, executable,
  capabilities, settings, settings_group_validation);
- what only the Hub shows (label, description, keywords, domain, maintenance status) is in `HUB`
  below (not `supported_python_versions`: `meltano add --from-ref` copies it into the project,
  whose schema refuses it);
- the repository's address is `REPOSITORY` below (the READMEs quote it; a test checks they agree).

From these it writes:

- `hub/extractors/tap-cliniko/<VARIANT>.yml` and `hub/loaders/target-paypal/<VARIANT>.yml`: plugin
  definitions in Meltano Hub's format (the files of `_data/meltano/<type>/<name>/` in the Hub's
  repository), also usable as `meltano add ... --from-ref <file>`;
- the `[project.urls]` table of every package's `pyproject.toml`, between two marker comments.

    python scripts/hub_definitions.py          rewrite them
    python scripts/hub_definitions.py --check  change nothing; exit 1 naming each file out of date
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "scripts/hub_definitions.py"

# The public repository: TO BE CONFIRMED before anything is published.
REPOSITORY = "https://github.com/cliniko-paypal/cliniko-paypal"
# The Hub's name for our variant of each plugin (its maintainer's id in the Hub).
VARIANT = "cliniko-paypal"

# Every package of this repository (its folder), for the `[project.urls]` tables.
PACKAGES = [
    "contract",
    "tap-cliniko",
    "transforms",
    "target-paypal",
    "paypal-ops",
    "orchestrate",
    "sandbox",
]


@dataclass(frozen=True)
class HubPlugin:
    """A plugin published to the Hub: where it is in meltano.yml and what only the Hub shows."""

    plugin_type: str  # meltano.yml's and the Hub's folder: extractors, loaders
    name: str
    package: str  # the package's folder in this repository
    label: str
    description: str
    domain_url: str
    keywords: tuple[str, ...]
    maintenance_status: str = "beta"
    logo_url: str | None = None  # a logo the Hub already has, else None (send one with it)

    @property
    def path(self) -> Path:
        """The definition file, relative to the repository."""
        return Path("hub") / self.plugin_type / self.name / f"{VARIANT}.yml"


HUB = [
    HubPlugin(
        "extractors",
        "tap-cliniko",
        "tap-cliniko",
        label="Cliniko",
        description="Practice management software for allied health clinics",
        domain_url="https://www.cliniko.com/",
        keywords=("api", "meltano_sdk", "healthcare", "practice management"),
    ),
    HubPlugin(
        "loaders",
        "target-paypal",
        "target-paypal",
        label="PayPal Invoicing",
        description="Invoices and their payments in PayPal (Invoicing v2)",
        domain_url="https://developer.paypal.com/docs/api/invoicing/v2/",
        keywords=("api", "meltano_sdk", "invoicing", "payments"),
        logo_url="/assets/logos/extractors/paypal.png",  # tap-paypal's, in the Hub
    ),
]

# What a setting of meltano.yml carries into the Hub's definition.
SETTING_FIELDS = ("name", "kind", "label", "description", "value", "sensitive", "options")
# Words written in capitals when a setting without a label gets one from its name.
LABEL_WORDS = {"id": "ID", "url": "URL", "urls": "URLs", "ms": "(ms)"}


def docs_url(package: str) -> str:
    """A package's documentation: its README on the repository's main branch."""
    return f"{REPOSITORY}/tree/main/{package}#readme"


def pip_url(package: str) -> str:
    """The `pip install` argument of a package, straight from the repository."""
    return f"git+{REPOSITORY}#subdirectory={package}"


def label_from_name(name: str) -> str:
    """`store_url` -> `Store URL`: a label for a setting meltano.yml gives none."""
    words = [LABEL_WORDS.get(word, word) for word in name.split("_")]
    return " ".join(words)[:1].upper() + " ".join(words)[1:]


def meltano_block(plugin: HubPlugin) -> dict[str, Any]:
    """The plugin's block in the root meltano.yml."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    for block in project["plugins"][plugin.plugin_type]:
        if block["name"] == plugin.name:
            return block  # type: ignore[no-any-return]
    raise SystemExit(f"meltano.yml declares no {plugin.plugin_type} named {plugin.name}")


def setting(declared: dict[str, Any]) -> dict[str, Any]:
    """One setting as the Hub shows it: meltano.yml's fields, and always a label."""
    out = {key: declared[key] for key in SETTING_FIELDS if key in declared}
    out.setdefault("label", label_from_name(declared["name"]))
    return out


def definition(plugin: HubPlugin) -> dict[str, Any]:
    """The plugin's definition in the Hub's format."""
    block = meltano_block(plugin)
    out: dict[str, Any] = {
        "name": plugin.name,
        "namespace": block["namespace"],
        "variant": VARIANT,
        "label": plugin.label,
        "description": plugin.description,
        "pip_url": pip_url(plugin.package),
        "executable": block["executable"],
        "repo": REPOSITORY,
        "docs": docs_url(plugin.package),
        "capabilities": sorted(block.get("capabilities", [])),
        "settings_group_validation": block.get("settings_group_validation", []),
        "settings": [setting(s) for s in block.get("settings", [])],
        "keywords": list(plugin.keywords),
        "domain_url": plugin.domain_url,
        "maintenance_status": plugin.maintenance_status,
        # The Hub's maintainers rate a connector; a new one starts unrated.
        "quality": "unknown",
    }
    if plugin.logo_url:
        out["logo_url"] = plugin.logo_url
    return out


def render(plugin: HubPlugin) -> str:
    """The definition file's text."""
    head = (
        f"# Generated by {SCRIPT} from meltano.yml's {plugin.name}; do not edit.\n"
        f"# For Meltano Hub: _data/meltano/{plugin.plugin_type}/{plugin.name}/{VARIANT}.yml\n"
    )
    body = yaml.safe_dump(
        definition(plugin), sort_keys=True, allow_unicode=True, width=100, default_flow_style=False
    )
    return head + body


# --- [project.urls] of every pyproject.toml ------------------------------------------------------
URLS_BEGIN = f"# project.urls: generated by {SCRIPT} from its REPOSITORY; do not edit"
URLS_END = "# project.urls: end"


def project_urls(package: str) -> dict[str, str]:
    """The links a package index shows for a package."""
    return {
        "Homepage": REPOSITORY,
        "Documentation": docs_url(package),
        "Repository": REPOSITORY,
        "Issues": f"{REPOSITORY}/issues",
    }


def urls_block(package: str) -> str:
    """The marked `[project.urls]` table of a package's pyproject.toml."""
    rows = "".join(f'{key} = "{value}"\n' for key, value in project_urls(package).items())
    return f"{URLS_BEGIN}\n[project.urls]\n{rows}{URLS_END}\n"


def with_urls(text: str, package: str) -> str:
    """A pyproject.toml's text with its marked `[project.urls]` table generated afresh."""
    marked = re.compile(rf"^{re.escape(URLS_BEGIN)}\n.*?^{re.escape(URLS_END)}\n", re.M | re.S)
    if not marked.search(text):
        raise SystemExit(
            f"{package}/pyproject.toml: no '{URLS_BEGIN}' ... '{URLS_END}' lines; "
            "add them after the [project] table"
        )
    return marked.sub(lambda _: urls_block(package), text)


# --- writing and checking ---------------------------------------------------------------------
def expected_files() -> dict[Path, str]:
    """Every generated file (relative to the repository) and the text it should hold."""
    files = {plugin.path: render(plugin) for plugin in HUB}
    for package in PACKAGES:
        path = Path(package) / "pyproject.toml"
        files[path] = with_urls((REPO / path).read_text(), package)
    return files


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, compare) the generated files; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when a file is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_files().items():
        target = REPO / path
        if target.exists() and target.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    for path in stale:
        print(f"{path} is out of date" if args.check else f"wrote {path}")
    if args.check and stale:
        print(f"run `python {SCRIPT}`")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
