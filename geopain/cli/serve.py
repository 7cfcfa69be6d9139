"""``geopain serve --db URL``: the web dashboard over a monitor database.

Runs, subjects, score timelines with alert bands, a chosen moment's landmarks, the models
(and their calibration when recorded), and uploads of a video or a landmark table to score.
Binds to 127.0.0.1 unless ``--host`` says otherwise, which needs ``--token``.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import GeopainError

#: One line for ``geopain --help`` (listed without registering the parser).
HELP = "web dashboard over a monitor database"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help=HELP,
                       description="Serve the monitor's dashboard: runs, subjects, score timelines with alert bands, "
                                   "landmarks of a chosen moment, models, and uploads to score. Localhost only "
                                   "unless --host is given together with --token.")
    p.add_argument("--db", default=None, help="database URL or SQLite file (default geopain-monitor/monitor.sqlite)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--token", default=os.environ.get("GEOPAIN_TOKEN"),
                   help="require this token on every request (default: $GEOPAIN_TOKEN); needed beyond localhost. "
                        "Open the dashboard once with ?token=TOKEN, or send 'Authorization: Bearer TOKEN'")
    p.add_argument("--model", default=None, help="model directory that scores uploads (default: the newest run's)")
    p.add_argument("--uploads", default=None, help="folder for accepted uploads (default: uploads/ beside the database)")
    p.add_argument("--max-upload-mb", type=float, default=500.0, help="largest accepted upload (default 500 MB)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store import DEFAULT_DB_NAME, open_store
    from ..web import check_bind, create_app, serve

    check_bind(args.host, args.token)
    db = args.db or str(Path("geopain-monitor") / DEFAULT_DB_NAME)
    if "://" not in db and not Path(db).is_file():
        raise GeopainError(f"--db {db}: no such database; run 'geopain monitor' first or give --db")
    if args.model and not (Path(args.model) / "config.json").is_file():
        raise GeopainError(f"--model {args.model}: not a model directory (no config.json)")
    store = open_store(db)
    app = create_app(store, token=args.token, model_dir=args.model, upload_dir=args.uploads,
                     max_upload_mb=args.max_upload_mb)
    where = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}/"
    print(f"dashboard of {store.url} at {where}{' (token required)' if args.token else ''}; Ctrl-C stops it",
          flush=True)
    serve(app, host=args.host, port=args.port, token=args.token)
    return 0
