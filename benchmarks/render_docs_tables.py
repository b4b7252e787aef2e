"""Re-render the benchmark tables embedded in docs/results.md from their committed folders.

Each table sits between ``<!-- begin: wsad report docs/results/NAME --format overview -->`` and
``<!-- end: wsad report -->`` and is exactly what ``wsad report docs/results/NAME --format overview`` prints
(``tests/docs/test_docs_results.py`` checks it). Run after exporting new results::

    python benchmarks/export_results.py runs/NEW docs/results/NAME docs/results/NAME --config CONFIG
    python benchmarks/render_docs_tables.py            # rewrites docs/results.md in place
    python benchmarks/render_docs_tables.py --check    # exit 1 when a table is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(
    r"(<!-- begin: wsad report docs/results/([\w.-]+) --format overview -->)(.*?)(<!-- end: wsad report -->)", re.S
)


def rendered(name: str) -> str:
    """The overview table of the committed folder ``docs/results/<name>``."""
    from wsad_core.bench.aggregate import aggregate
    from wsad_core.bench.report import render_overview
    from wsad_core.bench.runner import load_bench_records

    config, records = load_bench_records(REPO / "docs" / "results" / name)
    return render_overview(aggregate(records, config), config).strip()


def refresh(text: str) -> tuple[str, list[str]]:
    """``text`` with every embedded table re-rendered, and the names of the tables that changed."""
    changed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        begin, name, body, end = match.groups()
        table = rendered(name)
        if body.strip() != table:
            changed.append(name)
        return f"{begin}\n{table}\n{end}"

    return MARKER.sub(replace, text), changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "results.md")
    parser.add_argument("--check", action="store_true", help="only report stale tables (exit status 1)")
    args = parser.parse_args()
    text, changed = refresh(args.doc.read_text(encoding="utf-8"))
    if args.check:
        print("stale: " + ", ".join(changed) if changed else "every table is current")
        sys.exit(1 if changed else 0)
    args.doc.write_text(text, encoding="utf-8")
    print(f"re-rendered {', '.join(changed) or 'nothing (every table was current)'} in {args.doc}")


if __name__ == "__main__":
    main()
