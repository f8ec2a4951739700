"""``runner report RUN_ID``: a stored run as one self-contained HTML page, and optionally an equity PNG."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from runner.store import DEFAULT_PATH, Store


def run(args: argparse.Namespace) -> int:
    out = Path(args.out or f"report-{args.run_id}.html")
    for path in (out, Path(args.plot) if args.plot else None):
        if path is not None and path.is_dir():
            print(f"runner report: {path} is a directory; give a file name", file=sys.stderr)
            return 2
    db = args.db or os.environ.get("RUNNER_DB") or DEFAULT_PATH
    if not Path(db).is_file():
        print(f"runner report: no store at {db} (give --db or set RUNNER_DB)", file=sys.stderr)
        return 1
    from runner.report import ReportError, write_report

    store = Store(db)
    try:
        write_report(store, args.run_id, out, args.plot)
        print(f"wrote {out} ({out.stat().st_size / 1024:,.0f} KB)" + (f" and {args.plot}" if args.plot else ""))
    except ReportError as exc:
        print(f"runner report: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"runner report: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0
