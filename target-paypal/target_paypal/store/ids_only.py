"""Text the store keeps for years (audit log, outcomes) carries IDs and amounts, never an email.

Reasons and outcomes are written by our own code from IDs, but some come from outside: a
mapper's reject reason, an operator's `--why`. An email address in them is replaced before it
is stored; names and item names never reach them from our code (the tests check a full run).
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[A-Za-z]{2,}")


def ids_only(text: str) -> str:
    """`text` with any email address replaced by "<email>"."""
    return EMAIL.sub("<email>", text)
