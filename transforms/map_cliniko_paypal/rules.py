"""The mapping rules: loading a YAML file, checking it (with file:line messages), defaults."""

from __future__ import annotations

import ast
import json
import string
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pendulum
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from map_cliniko_paypal import approvals
from map_cliniko_paypal.approvals import Approval
from map_cliniko_paypal.custom_fields import TEMPLATE, names_in
from map_cliniko_paypal.invoicers import Invoicers
from map_cliniko_paypal.invoicers import build as build_invoicers

DEFAULT_FILE = "mapping.yaml"
MEMO_FIELDS = {
    "number",
    "invoice_id",
    "practitioner_id",
    "business_id",
    "patient_id",
    "owner",
    "practitioner",
    "service_date",
}
# invoices.line_description: what every line shows the payer (no IDs, no owner).
LINE_FIELDS = {"number", "practitioner", "service_date"}


class RulesError(ValueError):
    """A mapping file with mistakes; `problems` holds `file:line: message` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if len(problems) == 1 else "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Filter:
    """One filter: records for which `keep` is false are parked, skipped or held, with `reason`."""

    keep: str
    action: str = "park"  # or "skip", or "approve" (invoices only: held for approval)
    reason: str | None = None


# customers.missing_email: a patient with no email goes to PayPal without one.
WITHOUT_EMAIL = "without_email"
# bill_to.extra_information: where Cliniko's extra patient information goes (NONE: nowhere).
EXTRA_PLACES = ("none", "additional_info", "note", "memo", "line")


@dataclass(frozen=True)
class Rules:
    """The mapping rules; each default applies when the file leaves its key out."""

    time_zone: str = "Australia/Sydney"
    currency_code: str = "AUD"
    missing_email: str = "park"  # or "skip", or WITHOUT_EMAIL
    shared_email: str = "park"
    default_country_code: str = "AU"
    # A patient whose invoice_default_to names a third party has their invoices addressed to it.
    third_party: bool = True
    extra_information: str = "none"  # one of EXTRA_PLACES; off: it may be health information
    # Each business's PayPal invoicer (none listed: every invoice has the target's default).
    invoicers: Invoicers = field(default_factory=Invoicers)
    number_prefix: str = ""
    status: dict[int, Any] = field(
        default_factory=lambda: {
            10: "SENT",
            20: "PAID",
            30: "VOID",
            40: {"park": "open credit: refund or apply it by hand in PayPal"},
        }
    )
    archived: Any = "VOID"
    deleted: Any = "VOID"
    payment_term: dict[str, Any] | None = field(default_factory=lambda: {"term_type": "NET_30"})
    payment_method: str = "OTHER"
    # invoices.reversals.paid: a paid invoice reversed in Cliniko: "park" or "refund" (recorded).
    reversals_paid: str = "park"
    note: str | None = None
    memo: str | None = "Cliniko invoice {number}, owner {owner}"
    # Each line's description, e.g. "Seen {service_date} by {practitioner}" (None: none).
    line_description: str | None = None
    name_max_length: int = 200
    # The clinic's tax rates in percent; a line with any other rate is parked (None: any 0-100).
    tax_rates: frozenset[Decimal] | None = None
    owners_by_email: dict[str, str] = field(default_factory=dict)
    default_owner: str = "unassigned"
    filters: dict[str, tuple[Filter, ...]] = field(default_factory=dict)
    # Invoices held for approval (PayPal drafts until a person approves them), in file order.
    approvals: tuple[Approval, ...] = ()
    # Days an invoice may wait for approval before an alert fires (None: never).
    alert_after_days: int | None = 3
    # The patients' custom fields the templates name ({custom[Name]}): customers carry these.
    custom_field_names: tuple[str, ...] = ()


@cache
def rules_schema() -> dict[str, Any]:
    """The JSON Schema that rules files are checked against (shipped with the package)."""
    text = resources.files("map_cliniko_paypal").joinpath("rules.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def default_text() -> str:
    """The text of the mapping.yaml shipped with the package."""
    return resources.files("map_cliniko_paypal").joinpath(DEFAULT_FILE).read_text()


def _stringify_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    return value


def _node_at(root: yaml.Node | None, path: list[Any]) -> tuple[yaml.Node | None, bool]:
    """The deepest node along `path`, and whether the whole path was found."""
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    node = value
                    break
            else:
                return node, False
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node, False
            node = node.value[part]
        else:
            return node, False
    return node, True


def _key_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if str(k.value) == key:
                return k  # type: ignore[no-any-return]
    return None


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


def _where(path: list[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def check_text(text: str, name: str) -> tuple[dict[str, Any], list[str]]:
    """Parse and check a rules file; returns its data and `name:line: message` problems."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return {}, [f"{name}:{line}: not valid YAML: {problem}"]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, [f"{name}:{_line(root)}: the rules must be a mapping of keys to values"]
    plain = _stringify_keys(data)
    problems: list[tuple[int, str]] = []
    validator = Draft202012Validator(rules_schema())
    for error in validator.iter_errors(plain):
        path = list(error.absolute_path)
        node, _ = _node_at(root, path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            extra = [k for k in error.instance if k not in allowed]
            for key in extra:
                key_line = _line(_key_node(node, key))
                problems.append(
                    (
                        key_line,
                        f"{_where([*path, key])}: unknown key (allowed: "
                        f"{', '.join(sorted(allowed))})",
                    )
                )
            continue
        message = error.message
        if error.validator == "oneOf":
            message = "is not one of the allowed forms (see the shipped mapping.yaml)"
        misplaced = _approve_misplaced(path, error)
        if misplaced:
            node = _node_at(root, misplaced[0])[0]
            message = misplaced[1]
        elif error.validator == "dependentRequired":  # a business's own PayPal account
            message = "email, client_id_env and client_secret_env go together (all or none)"
        elif path == ["approvals", "alert_after_days"]:
            message = "must be a whole number of days, 1 or more (null: never alert)"
        problems.append((_line(node), f"{_where(path)}: {message}"))
    if not problems:
        problems.extend(_semantic_problems(plain, root))
    problems.sort()
    return data, [f"{name}:{line}: {message}" for line, message in problems]


def _approve_misplaced(path: list[Any], error: ValidationError) -> tuple[list[Any], str] | None:
    """Where `approve` is used outside the places that allow it, and what to say, if it is."""
    instance = error.instance
    if error.validator != "oneOf" or not isinstance(instance, dict):
        return None
    if path in (["invoices", "archived"], ["invoices", "deleted"]) and "approve" in instance:
        return [*path, "approve"], (
            "approve is allowed only in invoices.status (an archived or deleted invoice is "
            "voided in PayPal, never held for approval)"
        )
    if len(path) == 3 and path[:2] == ["invoices", "status"] and "approve" in instance:
        return [*path, "then"] if "then" in instance else path, (
            "approve takes a rule name (1 to 100 characters) and optionally then: SENT or PAID"
        )
    if (
        len(path) == 3
        and path[0] == "filters"
        and path[1] in ("patients", "invoice_items")
        and instance.get("action") == "approve"
    ):
        return [*path, "action"], (
            f"action approve holds invoices only: use filters.invoices or approvals.invoices "
            f"(filters.{path[1]} can park or skip)"
        )
    return None


def _approval_problems(data: dict[str, Any], root: yaml.Node | None) -> list[tuple[int, str]]:
    """`approvals.invoices`: each `when` parses and reads invoice fields; names are unique."""
    found: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate((data.get("approvals") or {}).get("invoices") or []):
        where = ["approvals", "invoices", index]
        wrong = approvals.problem(entry["when"])
        if wrong:
            found.append(
                (_line(_node_at(root, [*where, "when"])[0]), f"{_where(where)}.when: {wrong}")
            )
        name = entry["name"]
        if name in seen:
            found.append(
                (
                    _line(_node_at(root, [*where, "name"])[0]),
                    f"{_where(where)}.name: {name!r} is already the name of "
                    f"approvals.invoices.{seen[name]} (names must be unique)",
                )
            )
        else:
            seen[name] = index
    return found


def _template_problems(data: dict[str, Any], root: yaml.Node | None) -> list[tuple[int, str]]:
    """Templates name known fields only; a custom field is written `{custom[Name]}`."""
    found: list[tuple[int, str]] = []
    invoices = data.get("invoices") or {}
    for key, allowed in (("memo", MEMO_FIELDS), ("note", set()), ("line_description", LINE_FIELDS)):
        template = invoices.get(key)
        if not template:
            continue
        line = _line(_node_at(root, ["invoices", key])[0])
        if "{custom" in template.replace("{{", "") and not TEMPLATE.search(template):
            found.append((line, f"invoices.{key}: write a custom field as {{custom[Field name]}}"))
            continue
        if key == "note":
            continue  # the note is fixed text, with custom fields only
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            found.append((line, f"invoices.{key}: {exc}"))
            continue
        unknown = {n for n in names if not TEMPLATE.fullmatch("{" + n + "}")} - allowed
        if unknown:
            found.append(
                (
                    line,
                    f"invoices.{key}: unknown field(s) {', '.join(sorted(unknown))} "
                    f"(allowed: {', '.join(sorted(allowed))}, custom[Field name])",
                )
            )
    return found


def _semantic_problems(data: dict[str, Any], root: yaml.Node | None) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    zone = data.get("time_zone")
    if zone is not None:
        try:
            pendulum.timezone(zone)
        except Exception:  # noqa: BLE001 - any failure means an unknown zone
            found.append(
                (_line(_node_at(root, ["time_zone"])[0]), f"time_zone: unknown time zone {zone!r}")
            )
    found.extend(_template_problems(data, root))
    for stream, entries in (data.get("filters") or {}).items():
        for index, entry in enumerate(entries or []):
            expression = entry if isinstance(entry, str) else entry["keep"]
            try:
                ast.parse(expression, mode="eval")
            except SyntaxError as exc:
                node, _ = _node_at(root, ["filters", stream, index])
                found.append(
                    (_line(node), f"filters.{stream}.{index}: not a valid expression ({exc.msg})")
                )
    found.extend(_approval_problems(data, root))
    return found


def build(data: dict[str, Any]) -> Rules:
    """Rules from checked data; a key the file leaves out keeps its default."""
    customers = data.get("customers") or {}
    invoices = data.get("invoices") or {}
    items = data.get("invoice_items") or {}
    bill_to = data.get("bill_to") or {}
    owners = data.get("owners") or {}
    held = data.get("approvals") or {}
    defaults = Rules()
    alert = held.get("alert_after_days", defaults.alert_after_days)
    filters: dict[str, tuple[Filter, ...]] = {}
    for stream, entries in (data.get("filters") or {}).items():
        filters[stream] = tuple(
            Filter(keep=e) if isinstance(e, str) else Filter(**e) for e in entries or []
        )
    return Rules(
        time_zone=data.get("time_zone", defaults.time_zone),
        currency_code=data.get("currency_code", defaults.currency_code),
        missing_email=customers.get("missing_email", defaults.missing_email),
        shared_email=customers.get("shared_email", defaults.shared_email),
        default_country_code=customers.get("default_country_code", defaults.default_country_code),
        third_party=bill_to.get("third_party", defaults.third_party),
        extra_information=bill_to.get("extra_information", defaults.extra_information),
        invoicers=build_invoicers(data.get("invoicers")),
        number_prefix=invoices.get("number_prefix", defaults.number_prefix),
        status=(
            {int(k): v for k, v in invoices["status"].items()}
            if invoices.get("status")
            else defaults.status
        ),
        archived=invoices.get("archived", defaults.archived),
        deleted=invoices.get("deleted", defaults.deleted),
        payment_term=invoices.get("payment_term", defaults.payment_term),
        payment_method=invoices.get("payment_method", defaults.payment_method),
        reversals_paid=(invoices.get("reversals") or {}).get("paid", defaults.reversals_paid),
        note=invoices.get("note", defaults.note),
        memo=invoices.get("memo", defaults.memo),
        line_description=invoices.get("line_description", defaults.line_description),
        name_max_length=items.get("name_max_length", defaults.name_max_length),
        tax_rates=(
            frozenset(Decimal(str(rate)) for rate in items["tax_rates"])
            if items.get("tax_rates") is not None
            else defaults.tax_rates
        ),
        owners_by_email={
            str(email).lower(): owner for email, owner in (owners.get("by_email") or {}).items()
        },
        default_owner=owners.get("default", defaults.default_owner),
        filters=filters,
        approvals=tuple(
            Approval(name=e["name"], when=e["when"]) for e in held.get("invoices") or []
        ),
        alert_after_days=int(alert) if alert is not None else None,
        custom_field_names=names_in(
            invoices.get("memo", defaults.memo),
            invoices.get("note", defaults.note),
            invoices.get("line_description"),
        ),
    )


def load(path: str | Path | None = None) -> Rules:
    """The rules from `path` (the shipped file when None); RulesError on any mistake."""
    if path is None:
        text, name = default_text(), f"<shipped {DEFAULT_FILE}>"
    else:
        try:
            text, name = Path(path).read_text(), str(path)
        except OSError as exc:
            raise RulesError([f"{path}:1: cannot read the mapping file ({exc.strerror})"]) from exc
    data, problems = check_text(text, name)
    if problems:
        raise RulesError(problems)
    return build(data)
