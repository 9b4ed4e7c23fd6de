"""``dss-emulator``: run the DSS emulator from the command line.

Prints one line when ready, e.g. ``DSS emulator ready at http://127.0.0.1:54321 (api key: <key>)``,
then the line to paste into a shell that points Airflow's ``dataiku_dss_default`` connection at it
(``export AIRFLOW_CONN_DATAIKU_DSS_DEFAULT='{...}'``). A key given with ``--api-key`` is never echoed
(the export line then holds a placeholder). Stops cleanly on SIGINT/SIGTERM (exit 0).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dss-emulator", description="Local Dataiku DSS emulator (scenarios API)."
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: pick a free port)")
    p.add_argument("--api-key", default=None, help="global API key (default: generated and printed)")
    p.add_argument(
        "--admin-key", default=None, help="key of the /__emulator__/ admin routes (default: generated)"
    )
    p.add_argument(
        "--seed",
        default=None,
        help="seed file (YAML or JSON) or the name of a bundled seed (demo, failing); default: demo",
    )
    p.add_argument("--speed", type=float, default=1.0, help="time acceleration factor (default 1.0)")
    p.add_argument("--history-limit", type=int, default=200, help="finished runs kept per scenario")
    p.add_argument("--faults", default=None, help="fault rules file (YAML or JSON list)")
    p.add_argument(
        "--time-triggers",
        action="store_true",
        default=None,
        help="run the scenarios' time-based triggers on the emulator's clock (default: off or the seed flag)",
    )
    return p


#: What the export line holds instead of a key given with ``--api-key`` (never echoed).
GIVEN_KEY_PLACEHOLDER = "<the key given with --api-key>"


def export_lines(airflow_env: dict[str, str], given_key: bool) -> str:
    """``export AIRFLOW_CONN_...='<JSON>'`` per variable, shell-quoted; a given key is replaced."""
    lines = []
    for name, value in airflow_env.items():
        if given_key:
            value = json.dumps({**json.loads(value), "password": GIVEN_KEY_PLACEHOLDER})
        lines.append(f"export {name}={shlex.quote(value)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dss-emulator`` and ``python -m dss_provider.emulator``."""
    args = _parser().parse_args(argv)
    if args.speed <= 0:
        print("dss-emulator: --speed must be > 0", file=sys.stderr)
        return 2
    from dss_provider.emulator.server import DSSEmulator

    try:
        emulator = DSSEmulator(
            seed=args.seed,
            api_key=args.api_key,
            speed=args.speed,
            host=args.host,
            port=args.port,
            admin_key=args.admin_key,
            history_limit=args.history_limit,
            faults=args.faults,
            time_triggers=args.time_triggers,
        )
        emulator.start()
    except Exception as exc:
        print(f"dss-emulator: cannot start: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)
    key_text = "as given by --api-key" if args.api_key else emulator.api_key
    admin_text = "as given by --admin-key" if args.admin_key else emulator.admin_key
    print(f"DSS emulator ready at {emulator.url} (api key: {key_text})", flush=True)
    print(export_lines(emulator.airflow_env(), given_key=bool(args.api_key)), flush=True)
    print(f"admin key: {admin_text}", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
