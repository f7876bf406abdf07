"""`fruits serve OUTPUT`: the dashboard and identify service over a `fruits run` OUTPUT."""

from __future__ import annotations

import argparse
import logging
import sys

from ..classify import DEFAULT_NEIGHBOURS
from ..errors import UsageError

log = logging.getLogger("fruits")


def add_neighbours_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--neighbours", type=int, default=DEFAULT_NEIGHBOURS, metavar="K",
                        help=f"how many most similar reference photos vote for a class (default: {DEFAULT_NEIGHBOURS})")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="dashboard and fruit identification over a run's OUTPUT (web app)",
        description="Serve a web dashboard (browse with filters, item pages, evaluation) and the identify "
        "service (page /identify and POST /api/identify) over the OUTPUT of `fruits run`, local or s3://.",
    )
    parser.add_argument("output", metavar="OUTPUT", help="the folder or s3:// URI a `fruits run` wrote to")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1; 0.0.0.0 to reach it from a phone on the LAN)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    add_neighbours_option(parser)
    parser.add_argument("--max-upload-mb", type=float, default=15.0, metavar="MB",
                        help="largest photo accepted by identify, in megabytes (default: 15)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"bad --port {args.port}: give 1 to 65535 (or 0 for any free port)")
    from ..web import Settings, create_app
    from ..web.catalog import Catalog

    settings = Settings(output=args.output, neighbours=args.neighbours,
                        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024)).validated()
    # Load and check the OUTPUT before uvicorn starts: a missing or incomplete one is one line and exit 2.
    catalog = Catalog.load(settings)
    app = create_app(settings, catalog)
    import uvicorn

    print(f"serving {len(catalog.run.images)} photos of {settings.output} on http://{args.host}:{args.port} as soon "
          "as the identify model is loaded (Ctrl+C to stop)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", server_header=False)
    return 0
