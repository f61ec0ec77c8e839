"""``python -m fluoro``: sync spools and log in, from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ._errors import FluoroError


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fluoro", description="Fluoro Python SDK commands.")
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("sync", help="send what run spools still hold (offline, killed or interrupted runs)")
    s.add_argument("paths", nargs="+", metavar="DIR", help="run directories, fluoro/ folders or their parents")
    s.add_argument("--base-url", help="server URL (default: FLUORO_BASE_URL, the run's server, the login file)")
    s.add_argument("--api-key", help="API key (default: FLUORO_API_KEY, the login file)")
    s.add_argument("--entity", help="entity for offline runs that did not record one")
    s.add_argument("--no-mark-crashed", action="store_true", help="leave unfinished runs running")
    s.add_argument("-q", "--quiet", action="store_true")
    lg = sub.add_parser("login", help="save an API key for a server")
    lg.add_argument("--host", help="server URL (default: FLUORO_BASE_URL or http://127.0.0.1:8080)")
    lg.add_argument("--key", help="API key (default: FLUORO_API_KEY, else asked for)")
    lg.add_argument("--verify", action="store_true", help="fail unless the server accepts the key")
    sub.add_parser("version", help="print the SDK version")
    args = p.parse_args(argv)
    try:
        if args.cmd == "sync":
            from ._sync import sync

            results = sync(
                args.paths,
                base_url=args.base_url,
                api_key=args.api_key,
                entity=args.entity,
                quiet=args.quiet,
                mark_crashed=not args.no_mark_crashed,
            )
            return 0 if all(r.ok for r in results) else 1
        if args.cmd == "login":
            from ._login import login

            login(key=args.key, host=args.host, verify=args.verify)
            return 0
        if args.cmd == "version":
            from ._version import __version__

            print("fluoro (python) %s" % __version__)
            return 0
    except FluoroError as e:
        sys.stderr.write("fluoro: %s\n" % e)
        return 1
    p.print_help(sys.stderr)
    return 2
