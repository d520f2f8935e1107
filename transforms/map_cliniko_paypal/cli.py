"""`map-cliniko-paypal`: the Singer mapper, plus `map-cliniko-paypal validate <file>`."""

from __future__ import annotations

import sys
from pathlib import Path

from map_cliniko_paypal.mapper import MapClinikoPayPal
from map_cliniko_paypal.rules import RulesError, check_text


def validate(paths: list[str]) -> int:
    """Check mapping files; print `file:line: message` per mistake; exit 0 when all are OK."""
    if not paths:
        print("usage: map-cliniko-paypal validate <mapping.yaml> [...]", file=sys.stderr)
        return 2
    failed = False
    for name in paths:
        try:
            text = Path(name).read_text()
        except OSError as exc:
            print(f"{name}:1: cannot read the file ({exc.strerror})")
            failed = True
            continue
        _, problems = check_text(text, name)
        for problem in problems:
            print(problem)
        if problems:
            failed = True
        else:
            print(f"{name}: OK")
    return 1 if failed else 0


def main() -> None:
    """Entry point: `validate <file>...` checks mapping files; anything else runs the mapper."""
    args = sys.argv[1:]
    if args and args[0] in ("validate", "--validate"):
        sys.exit(validate(args[1:]))
    try:
        MapClinikoPayPal.cli()
    except RulesError as error:
        # One line per mistake, with file and line, instead of a traceback; the run stops.
        for problem in error.problems:
            print(f"map-cliniko-paypal stopped: {problem}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
