"""`python -m tools.archive_keys --table <MessagesTable's name>`: give every message archived before the archive's
current indexes their keys (docs/operations.md, *Upgrading the archive's indexes*).

It scans MessagesTable once, page by page, and writes to each older message only its listing keys (one UpdateItem
that changes nothing a list, an event or a usage count reads), so it can run while the gateway serves traffic, and
again: a second run updates nothing. Your AWS credentials and region are the AWS CLI's (`AWS_PROFILE`,
`AWS_REGION`); it needs `dynamodb:Scan`, `GetItem` and `UpdateItem` on the table. Prints one line a page and a total.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

_OTHER_TABLES = ("NUMBERS_TABLE", "LEDGER_TABLE", "CONTACTS_TABLE", "CALLBACKS_TABLE", "KEYS_TABLE")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.archive_keys", description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="MessagesTable's name (the stack's MessagesTableName output)")
    parser.add_argument("--page-size", type=int, default=500)
    arguments = parser.parse_args(argv)
    os.environ["MESSAGES_TABLE"] = arguments.table
    for name in _OTHER_TABLES:  # the gateway's settings name every table; this reads and writes MessagesTable only
        os.environ.setdefault(name, "-")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "layers", "shared"))
    from aircall_sms.store.messages import backfill_listing_keys

    total, start, pages = 0, None, 0
    while True:
        updated, start = backfill_listing_keys(start=start, page_size=arguments.page_size)
        total, pages = total + updated, pages + 1
        print(f"page {pages}: {updated} messages given their listing keys")
        if start is None:
            break
    print(f"done: {total} messages updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
