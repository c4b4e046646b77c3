"""Validate a SCIM 2.0 server with scim2-tester; used by tests/emulator_conformance.rs.

Invocation: python scim2_tester_check.py --base-url URL [--token TOKEN] [--all]
(BASE_URL and TOKEN environment variables work as well).

Lists every check whose status is not SUCCESS (every check with --all), then a summary line
`SUMMARY success=N error=N ...` that the Rust test parses. The exit status
is 1 when at least one check ended in ERROR or CRITICAL, 0 otherwise.
"""

import argparse
import os
import sys
from collections import Counter

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = {Status.ERROR, Status.CRITICAL}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("BASE_URL"))
    parser.add_argument("--token", default=os.environ.get("TOKEN"))
    parser.add_argument("--all", action="store_true", help="list successful checks too")
    args = parser.parse_args()
    if not args.base_url:
        parser.error("a base URL is needed (--base-url or BASE_URL)")
    return args


def main() -> int:
    args = parse_args()
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    with Client(base_url=args.base_url, headers=headers, timeout=30) as http:
        results = check_server(SyncSCIMClient(http))

    tally = Counter()
    for result in results:
        tally[result.status.name.lower()] += 1
        if result.status is Status.SUCCESS and not args.all:
            continue
        reason = " ".join((result.reason or "").split())[:400]
        print(f"{result.status.name:<8} {result.resource_type or '-':<6} {result.title}: {reason}")

    summary = " ".join(f"{name}={count}" for name, count in sorted(tally.items()))
    print(f"SUMMARY {summary}")
    return 1 if any(r.status in FAILING for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
