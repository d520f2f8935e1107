"""The top functions of a py-spy profile in collapsed-stack form (`py-spy record --format raw`).

    .venv/bin/python target-paypal/perf/top_functions.py profile.txt [--top 25] [--own]

Each line: a function's share of all samples, inclusive (the function or anything it calls),
or with --own only the samples in the function itself.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

LINE = re.compile(r" \(([^()]*?):\d+\)$")


def frame_name(frame: str) -> str:
    """`apply (target_paypal/apply.py:93)` -> `apply (target_paypal/apply.py)`."""
    return LINE.sub(lambda m: f" ({_short(m.group(1))})", frame.strip())


def _short(path: str) -> str:
    for marker in ("site-packages/", "target-paypal/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def main() -> None:
    """Print the top functions of the profile named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--own", action="store_true")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = [frame_name(f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for name in set(frames):
            inclusive[name] += samples
    shares = own if args.own else inclusive
    for name, samples in shares.most_common(args.top):
        print(f"{100 * samples / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
