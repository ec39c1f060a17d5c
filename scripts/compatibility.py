#!/usr/bin/env python3
"""Prints the differential corpus's explained differences as Markdown, for
docs/COMPATIBILITY.md: every path left out of the comparison with Apache Kafka, and why.

    python3 scripts/compatibility.py            # the table
    python3 scripts/compatibility.py --write    # into docs/COMPATIBILITY.md
    python3 scripts/compatibility.py --check    # fails if the doc's table is stale

The section between the markers in docs/COMPATIBILITY.md is this script's output;
scripts/test.sh runs --check.
"""

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "tests/java/src/test/resources"
DOC = ROOT / "docs/COMPATIBILITY.md"
SECTION = re.compile(r"(<!-- generated: scripts/compatibility.py -->\n)(.*?)(<!-- end generated -->)", re.S)


def rows():
    ignored = json.loads((RESOURCES / "differential-ignored.json").read_text())["ignore"]
    for pattern, why in ignored.items():
        yield "every step", pattern, why
    for path in sorted((RESOURCES / "differential").glob("*.json")):
        sequence = json.loads(path.read_text())
        for api, patterns in sequence.get("ignore", {}).items():
            for pattern, why in patterns.items():
                yield f"{path.name}, every {api} step", pattern, why
        for number, step in enumerate(sequence["steps"], start=1):
            for pattern, why in step.get("ignore", {}).items():
                where = f"{path.name} step {number} ({step['api']} v{step['version']})"
                yield where, pattern, why


def table():
    lines = ["| where | left out | why |", "| --- | --- | --- |"]
    lines += [f"| {where} | `{pattern}` | {why} |" for where, pattern, why in rows()]
    return "\n".join(lines) + "\n"


def main():
    current = table()
    if sys.argv[1:] == ["--check"]:
        found = SECTION.search(DOC.read_text())
        if not found or found.group(2) != current:
            sys.exit(f"{DOC} is out of date: run scripts/compatibility.py --write")
        print(f"{DOC.name} is current")
    elif sys.argv[1:] == ["--write"]:
        doc = DOC.read_text()
        if not SECTION.search(doc):
            sys.exit(f"{DOC} has no generated section")
        DOC.write_text(SECTION.sub(lambda m: m.group(1) + current + m.group(3), doc))
    else:
        sys.stdout.write(current)


if __name__ == "__main__":
    main()
