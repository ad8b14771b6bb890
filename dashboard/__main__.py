"""`python -m dashboard [options]`: start the Streamlit dashboard bound to 127.0.0.1.

Options are the dashboard's own (see --help) plus --address/--port for the web server.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from dashboard.settings import build_parser

APP = Path(__file__).with_name("app.py")


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    web = parser.add_argument_group("web server")
    web.add_argument("--address", default=os.environ.get("LESION_DASHBOARD_ADDRESS", "127.0.0.1"),
                     help="address the page is served on [LESION_DASHBOARD_ADDRESS]")
    web.add_argument("--port", type=int, default=int(os.environ.get("LESION_DASHBOARD_PORT", "8501")),
                     help="port the page is served on [LESION_DASHBOARD_PORT]")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    app_args = _without_web_args(argv)
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", args.address, "--server.port", str(args.port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        "--", *app_args,
    ]
    os.execv(sys.executable, command)


def _without_web_args(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--address", "--port"):
            skip = True
        elif not arg.startswith(("--address=", "--port=")):
            out.append(arg)
    return out


if __name__ == "__main__":
    main()
