"""Each input record checked against the contract, quickly: its schemas compiled once.

The contract's own check (`cliniko_paypal_contract.problems`, jsonschema) interprets a schema
anew for every record: a fifth of the target's CPU on a first run. Here each stream's schema
is compiled into Python by fastjsonschema, and a record it passes that carries no unsafe text
is valid; any other record goes to the contract's check, which decides and says why in its
own words. So the answer is always the contract's, as long as the compiled check never passes
what jsonschema refuses: a schema is compiled only when it uses nothing but the keywords
`PLAIN_KEYWORDS`, which both read alike, and no array; formats are checked by jsonschema's own
format checkers. Any other schema is left to the contract's check alone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial
from typing import Any

import fastjsonschema
from jsonschema import FormatChecker

from cliniko_paypal_contract import UNSAFE_TEXT, schema
from cliniko_paypal_contract import problems as contract_problems

PLAIN_KEYWORDS = {
    "$schema", "title", "description", "type", "properties", "required",
    "additionalProperties", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "format",
}  # fmt: skip
PLAIN_TYPES = {"string", "integer", "number", "boolean", "object", "null"}


def problems(stream: str, record: dict[str, Any]) -> str | None:
    """The contract's one-line reason a record is not valid, or None if it is valid."""
    check = compiled(stream)
    if check is not None and not _unsafe(record):
        try:
            check(record)
        except fastjsonschema.JsonSchemaException:
            pass
        else:
            return None
    return contract_problems(stream, record)


@cache
def compiled(stream: str) -> Callable[[Any], Any] | None:
    """The stream's schema compiled, or None when it uses more than `plain` allows."""
    found = schema(stream)
    if not plain(found):
        return None
    checker = FormatChecker()
    formats = {name: partial(_conforms, checker, name) for name in checker.checkers}
    return fastjsonschema.compile(found, formats=formats)  # type: ignore[no-any-return]


def plain(node: Any) -> bool:
    """Whether a schema uses only `PLAIN_KEYWORDS` and `PLAIN_TYPES`, in every subschema."""
    if not isinstance(node, dict) or not set(node) <= PLAIN_KEYWORDS:
        return False
    types = node.get("type", [])
    if not set([types] if isinstance(types, str) else types) <= PLAIN_TYPES:
        return False
    more = node.get("additionalProperties", True)  # true or false: nothing to read in it
    subschemas = [*node.get("properties", {}).values(), *([] if isinstance(more, bool) else [more])]
    return all(plain(sub) for sub in subschemas)


def _conforms(checker: FormatChecker, name: str, value: Any) -> bool:
    return checker.conforms(value, name)


def _unsafe(value: Any) -> bool:
    """Whether any text in the record holds what `UNSAFE_TEXT` forbids.

    One search over all its text joined: `UNSAFE_TEXT` matches single characters, so joining
    cannot make or hide a match. Half the time of a search per string.
    """
    texts: list[str] = []
    _collect_texts(value, texts)
    return UNSAFE_TEXT.search("".join(texts)) is not None


def _collect_texts(value: Any, texts: list[str]) -> None:
    if isinstance(value, str):
        texts.append(value)
        return
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict | list):
            _collect_texts(item, texts)
