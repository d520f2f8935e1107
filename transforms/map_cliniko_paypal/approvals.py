"""Approval conditions: `when` expressions over a Cliniko invoice, checked and evaluated.

An invoice a rule holds still goes to target-paypal in full, with an `approval` object
(`rule`, `basis`, `alert_after_days`); the target keeps it as a PayPal draft until a person
approves it. The basis is a hash of the rule's name and of the values of the fields its
condition reads, so that the target can tell "held again for another reason" from an unrelated
edit. Nothing here ever puts a field's value in a message.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import io
import json
import tokenize
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from simpleeval import EvalWithCompoundTypes

# The fields of a Cliniko invoice as tap-cliniko emits it: the properties of the `Invoice` schema
# in Cliniko's OpenAPI spec, plus the `<name>_id` foreign keys the tap adds from each link
# (tests/test_approvals.py checks this list against the spec and against the tap's schema).
CLINIKO_INVOICE_FIELDS = frozenset(
    {
        "appointment",
        "archived_at",
        "attendee",
        "business",
        "calculation_method",
        "calculation_method_description",
        "closed_at",
        "created_at",
        "deleted_at",
        "discounted_amount",
        "id",
        "invoice_items",
        "invoice_to",
        "issue_date",
        "links",
        "net_amount",
        "notes",
        "number",
        "online_payment_url",
        "original_invoice",
        "patient",
        "patient_extra_information",
        "practitioner",
        "reversed_invoices",
        "signature",
        "status",
        "status_description",
        "tax_amount",
        "total_amount",
        "updated_at",
        # added by tap-cliniko from the links above
        "appointment_id",
        "attendee_id",
        "business_id",
        "original_invoice_id",
        "patient_id",
        "practitioner_id",
        "signature_id",
    }
)
# Conveniences: the money fields as decimals (None when blank).
DECIMALS = {"total": "total_amount", "tax": "tax_amount"}
FIELDS = CLINIKO_INVOICE_FIELDS | DECIMALS.keys()
IS_SET = "is_set"
FUNCTIONS: dict[str, Callable[..., Any]] = {
    IS_SET: lambda value: value is not None and value != "",
    "int": int,
    "str": str,
    "len": len,
}


class NotEvaluated(Exception):
    """A condition that raised at run time; the message names the rule, never a value."""


@dataclass(frozen=True)
class Approval:
    """One entry of `approvals.invoices`: invoices for which `when` is true wait for approval."""

    name: str
    when: str


@dataclass(frozen=True)
class Hold:
    """The rule that holds an invoice, and the names of the fields its condition read."""

    rule: str
    reads: tuple[str, ...]


# --- expressions --------------------------------------------------------------------------------


def rewrite(expression: str) -> str:
    """`X is set` -> `is_set(X)`, `X is not set` -> `(not is_set(X))`; strings left alone.

    Set means neither None nor an empty string. An expression that does not tokenize is
    returned as it is (the parser then reports it).
    """
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(expression).readline) if t.string]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return expression
    starts = [0]
    for line in expression.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(position: tuple[int, int]) -> int:
        return starts[position[0] - 1] + position[1]

    spans: list[tuple[int, int, str]] = []
    index = 0
    while index < len(tokens):
        words = [t.string if t.type == tokenize.NAME else None for t in tokens[index : index + 4]]
        if tokens[index].type == tokenize.NAME and words[1:2] == ["is"]:
            negated = words[2:3] == ["not"]
            last = index + (3 if negated else 2)
            if last < len(tokens) and words[last - index] == "set":
                name = tokens[index].string
                call = f"(not {IS_SET}({name}))" if negated else f"{IS_SET}({name})"
                spans.append((offset(tokens[index].start), offset(tokens[last].end), call))
                index = last + 1
                continue
        index += 1
    for start, end, call in reversed(spans):
        expression = expression[:start] + call + expression[end:]
    return expression


def _calls(tree: ast.AST) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


@cache
def names_read(expression: str) -> tuple[str, ...]:
    """The names an expression reads (functions aside), sorted; () when it does not parse."""
    try:
        tree = ast.parse(rewrite(expression).strip(), mode="eval")
    except SyntaxError:
        return ()
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return tuple(sorted(names - _calls(tree)))


def _evaluator(names: dict[str, Any] | None = None) -> EvalWithCompoundTypes:
    # A copy of the functions: the evaluator adds list, tuple, dict and set to what it is given.
    return EvalWithCompoundTypes(names=names or {}, functions=dict(FUNCTIONS))


def problem(expression: str) -> str | None:
    """What is wrong with a `when` expression, if anything.

    Its syntax, a construct the evaluator lacks, a function it does not offer, or a name that is
    not a field of an invoice.
    """
    try:
        tree = ast.parse(rewrite(expression).strip(), mode="eval")
    except SyntaxError as exc:
        return f"not a valid expression ({exc.msg})"
    evaluator = _evaluator()
    lacking = sorted(
        {
            type(node).__name__
            for node in ast.walk(tree)
            if (isinstance(node, ast.expr) and type(node) not in evaluator.nodes)
            or (
                isinstance(node, ast.operator | ast.unaryop | ast.cmpop)
                and type(node) not in evaluator.operators
            )
        }
    )
    if lacking:
        return f"uses what a condition cannot: {', '.join(lacking)}"
    functions = sorted(_calls(tree) - FUNCTIONS.keys())
    if functions:
        return (
            f"unknown function(s) {', '.join(functions)} (allowed: {', '.join(sorted(FUNCTIONS))})"
        )
    unknown = [name for name in names_read(expression) if name not in FIELDS]
    if not unknown:
        return None
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(FIELDS), n=1)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return (
        f"not a field of a Cliniko invoice: {', '.join(hints)} (fields: Cliniko's Invoice, "
        f"the *_id keys tap-cliniko adds, total and tax; see transforms/README.md)"
    )


# --- evaluation ---------------------------------------------------------------------------------


def values(record: dict[str, Any], reads: Iterable[str]) -> dict[str, Any]:
    """The values of the fields read, from the record; a field it lacks is None."""
    found: dict[str, Any] = {}
    for name in reads:
        if name in DECIMALS:
            raw = record.get(DECIMALS[name])
            try:
                found[name] = None if raw in (None, "") else Decimal(str(raw))
            except InvalidOperation:
                found[name] = None
        else:
            found[name] = record.get(name)
    return found


@cache
def _parsed(expression: str) -> Any:
    return EvalWithCompoundTypes.parse(expression)


def holds(rule: str, expression: str, record: dict[str, Any]) -> Hold | None:
    """A Hold when the condition is true of the record; NotEvaluated when it raises."""
    reads = names_read(expression)
    names = values(record, reads)
    evaluator = _evaluator(names)
    rewritten = rewrite(expression)
    try:
        held = bool(evaluator.eval(rewritten, previously_parsed=_parsed(rewritten)))
    except Exception as exc:  # noqa: BLE001 - simpleeval and the values raise many kinds
        blank = [name for name in reads if names.get(name) in (None, "")]
        hint = f"; blank: {', '.join(blank)} (test with 'is set')" if blank else ""
        raise NotEvaluated(
            f"approval rule {rule!r} could not be evaluated ({type(exc).__name__}{hint})"
        ) from None
    return Hold(rule, reads) if held else None


def basis(rule: str, reads: Iterable[str], record: dict[str, Any]) -> str:
    """sha256 of [rule, {field: value}] for the fields the rule's condition reads."""
    payload = json.dumps([rule, values(record, reads)], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
