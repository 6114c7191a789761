"""Says what the loader recognises in a folder or zip(s) of the AHU archive, and what it cannot use.

Example:
    ahu-scan path/to/archive [--json]

Per tier: where it was found, entry counts by kind, the primary-label histogram; then every entry it
could not parse, with the reason and the fix. Decodes no media. Exit status 1 when an entry cannot
be used or no tier is found.

`ahu-scan` once the package is installed; `python scripts/scan_archive.py` in a checkout.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from hf_loader.cli.command import CommandParser, run_command
from hf_loader.scan_report import scan_archive


def run(argv: list[str]) -> int:
    parser = CommandParser(prog="ahu-scan", description=__doc__)
    parser.add_argument("paths", nargs="+", help="a folder (tier folders and/or zips) or zip files")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = scan_archive(args.paths)
    if args.json:
        print(json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=1))
    else:
        print(report)
    return 1 if report.problems or not report.tiers else 0


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv, prog="ahu-scan")


if __name__ == "__main__":
    sys.exit(main())
