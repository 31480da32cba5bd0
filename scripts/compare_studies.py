"""Check that two study runs measured the same thing, figure for figure:

    .venv/bin/python scripts/compare_studies.py reports/quick /tmp/quick-again

Compares every ``<run>/metrics/*.json`` of both run folders exactly (floats included), setting aside
by name only timings and whether a step reused a checkpoint (:mod:`s2ld_core.study.compare`). Prints
one line (and a table of what differs); exits 1 when anything differs, 2 when a folder is not a run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2ld_core.study.compare import compare_studies  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("left", help="a study run folder (holds metrics/)")
    p.add_argument("right", help="the run to compare it with")
    args = p.parse_args(argv)
    try:
        comparison = compare_studies(args.left, args.right)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(comparison.markdown())
    return 0 if comparison.identical else 1


if __name__ == "__main__":
    sys.exit(main())
