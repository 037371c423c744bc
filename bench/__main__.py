"""`make bench`: run every benchmark, print one table, write bench/report.json."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    archive_bench,
    authorizer_path,
    campaign_drain,
    cold_start,
    cost,
    drain,
    inbound_path,
    media_bench,
    segments_bench,
    send_path,
    throughput,
)

REPORT = Path(__file__).resolve().parent / "report.json"


def main() -> int:
    results: dict[str, object] = {}
    modules = (
        ("segments", segments_bench),
        ("cold_start", cold_start),
        ("send_path", send_path),
        ("inbound_path", inbound_path),
        ("authorizer_path", authorizer_path),
        ("throughput", throughput),
        ("cost", cost),
        ("archive", archive_bench),
        ("drain", drain),
        ("campaign_drain", campaign_drain),
        ("media", media_bench),
    )
    for name, module in modules:
        print(f"running {name}...", file=sys.stderr)
        results.update(module.run())
    width = max(len(key) for key in results)
    print(f"\n{'measure':<{width}}  value")
    print(f"{'-' * width}  -----")
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }
    REPORT.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {REPORT.relative_to(Path.cwd()) if REPORT.is_relative_to(Path.cwd()) else REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
