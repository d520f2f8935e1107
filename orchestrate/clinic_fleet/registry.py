"""The clinics registry (`clinics.yml`): which clinics the fleet syncs, and how to reach each.

Each clinic gives its name, its time zone, its rules file, and the names of the environment
variables that hold its secrets (never the secrets themselves). A mistake stops the code
location with one line naming the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

# The clinic's name is its Meltano state-id suffix, its schema in the shared store and its
# Dagster tag: the same rule as target-paypal's `clinic` setting.
NAME = re.compile(r"^[a-z0-9_]{1,40}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_LIKE = re.compile(r"(SECRET|API_KEY|PASSWORD|TOKEN|CLIENT_ID|ALERT_URLS)$", re.IGNORECASE)
SECRET_FIELDS = ("cliniko_api_key_env", "paypal_client_id_env", "paypal_client_secret_env")
REQUIRED = ("name", "time_zone", "rules", *SECRET_FIELDS)
OPTIONAL = ("cliniko_base_url", "paypal_base_url", "env")


class RegistryError(ValueError):
    """The registry cannot be used; the message is one line naming the file and the field."""


@dataclass(frozen=True)
class Clinic:
    """One clinic of the fleet, as the registry gives it."""

    name: str
    time_zone: str
    rules: Path
    cliniko_api_key_env: str
    paypal_client_id_env: str
    paypal_client_secret_env: str
    cliniko_base_url: str | None = None
    paypal_base_url: str | None = None
    # More of the pipeline's settings for this clinic, as environment variables (no secrets:
    # the registry is not a secret store), e.g. TARGET_PAYPAL_INVOICER_EMAIL.
    env: Mapping[str, str] = field(default_factory=dict)
    # The variables its rules name for its businesses' own PayPal accounts (invoicers.by_business):
    # kept from every other clinic's processes, as its registered secrets are.
    account_variables: tuple[str, ...] = ()

    @property
    def secret_variables(self) -> tuple[str, str, str]:
        """The names of the variables holding this clinic's Cliniko key and PayPal credentials."""
        return (self.cliniko_api_key_env, self.paypal_client_id_env, self.paypal_client_secret_env)


def load_registry(path: Path) -> list[Clinic]:
    """The clinics of the registry at `path`, checked; RegistryError (one line) otherwise."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise RegistryError(
            f"{path}: no clinics registry here: create it (see clinics.yml in the project) or set "
            "FLEET_CLINICS_FILE"
        ) from None
    except (OSError, yaml.YAMLError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RegistryError(f"{path}: not a readable YAML file ({first})") from None
    entries = data.get("clinics") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{path}: clinics: expected a list of clinics, one at least")
    clinics = [_clinic(path, index, entry) for index, entry in enumerate(entries)]
    seen: set[str] = set()
    for index, clinic in enumerate(clinics):
        if clinic.name in seen:
            raise RegistryError(f"{path}: clinics[{index}].name: {clinic.name} is listed twice")
        seen.add(clinic.name)
    return clinics


def _clinic(path: Path, index: int, entry: Any) -> Clinic:
    where = f"{path}: clinics[{index}]"
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected a mapping of the clinic's fields")
    unknown = sorted(set(entry) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise RegistryError(
            f"{where}.{unknown[0]}: unknown field (known: {', '.join(REQUIRED)}, "
            f"{', '.join(OPTIONAL)})"
        )
    for name in REQUIRED:
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise RegistryError(f"{where}.{name}: missing (a text value is required)")
    name = entry["name"]
    if not NAME.match(name):
        raise RegistryError(
            f"{where}.name: {name!r} is not a clinic name (lowercase letters, digits and _, "
            "up to 40 characters)"
        )
    where = f"{path}: clinics[{index}] ({name})"
    for secret in SECRET_FIELDS:
        if not ENV_NAME.match(entry[secret]):
            raise RegistryError(
                f"{where}.{secret}: {entry[secret]!r} is not an environment variable's name "
                "(the registry names the variable; the secret stays in the environment)"
            )
    for url in ("cliniko_base_url", "paypal_base_url"):
        value = entry.get(url)
        if value is not None and not (isinstance(value, str) and value.startswith("http")):
            raise RegistryError(f"{where}.{url}: expected an http(s) URL")
    time_zone = _time_zone(where, entry["time_zone"])
    rules, rules_data = _rules(where, path, entry["rules"], time_zone)
    return Clinic(
        name=name,
        time_zone=time_zone,
        rules=rules,
        cliniko_api_key_env=entry["cliniko_api_key_env"],
        paypal_client_id_env=entry["paypal_client_id_env"],
        paypal_client_secret_env=entry["paypal_client_secret_env"],
        cliniko_base_url=entry.get("cliniko_base_url"),
        paypal_base_url=entry.get("paypal_base_url"),
        env=_env(where, entry.get("env")),
        account_variables=_account_variables(rules_data),
    )


def _time_zone(where: str, value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise RegistryError(
            f"{where}.time_zone: {value!r} is not a known time zone (an IANA name such as "
            "Australia/Sydney)"
        ) from None
    return value


def _rules(where: str, registry: Path, value: str, time_zone: str) -> tuple[Path, Any]:
    """The rules file, relative to the registry's folder, whose time zone is the clinic's.

    Returns its path and what it holds (map-cliniko-paypal checks the rest when it runs).
    """
    rules = (registry.parent / value).resolve()
    try:
        data = yaml.safe_load(rules.read_text())
    except OSError:
        raise RegistryError(f"{where}.rules: {rules} cannot be read (a rules YAML file)") from None
    except yaml.YAMLError:
        raise RegistryError(f"{where}.rules: {rules} is not a YAML file") from None
    zone = data.get("time_zone") if isinstance(data, dict) else None
    if zone is not None and zone != time_zone:
        raise RegistryError(
            f"{where}.time_zone: {time_zone}, but its rules file {rules} says {zone}: make them "
            "agree (the rules date the invoices, the registry schedules the runs)"
        )
    return rules, data


def _account_variables(rules: Any) -> tuple[str, ...]:
    """The names of the variables the rules give businesses' own PayPal accounts."""
    invoicers = rules.get("invoicers") if isinstance(rules, dict) else None
    by_business = invoicers.get("by_business") if isinstance(invoicers, dict) else None
    names = {
        str(entry[key])
        for entry in (by_business or {}).values()
        if isinstance(entry, dict)
        for key in ("client_id_env", "client_secret_env")
        if entry.get(key)
    }
    return tuple(sorted(names))


def _env(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RegistryError(f"{where}.env: expected a mapping of environment variables")
    env = {}
    for key, item in value.items():
        if not isinstance(key, str) or not ENV_NAME.match(key):
            raise RegistryError(f"{where}.env: {key!r} is not an environment variable's name")
        if SECRET_LIKE.search(key):
            raise RegistryError(
                f"{where}.env.{key}: looks like a secret: keep it in the environment and name "
                "its variable (cliniko_api_key_env, paypal_client_id_env, paypal_client_secret_env)"
            )
        if not isinstance(item, str | int | float | bool):
            raise RegistryError(f"{where}.env.{key}: expected a text or number value")
        env[key] = str(item).lower() if isinstance(item, bool) else str(item)
    return env
