"""``python -m benchmarks``: run the benchmarks and print the table of figures and targets."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks._common import Context, Row, machine_info, scratch_dir

BENCHES = ("emulator", "scale", "polling", "deferred", "imports", "plugin", "event_watchers")


def _runner(name: str, args: argparse.Namespace) -> Callable[[Context], list[Row]]:
    if name == "imports":
        from benchmarks import imports

        return lambda ctx: imports.run(ctx, install=not args.no_install)
    if name == "plugin":
        from benchmarks import plugin_cost

        return plugin_cost.run
    if name == "event_watchers":
        from benchmarks import event_watchers

        return event_watchers.run
    if name == "scale":
        from benchmarks import scale

        return scale.run
    if name == "deferred":
        from benchmarks import deferred_runs

        return deferred_runs.run
    if name == "polling":
        from benchmarks import polling

        return polling.run
    from benchmarks import emulator_capacity

    return emulator_capacity.run


def render_text(rows: Sequence[Row]) -> str:
    head = ("benchmark", "figure", "value", "target", "met", "note")
    data = [(r.bench, r.figure, r.value, r.target, r.met_text(), r.note) for r in rows]
    widths = [max(len(head[i]), *(len(d[i]) for d in data)) if data else len(head[i]) for i in range(5)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head[:5], widths, strict=True)) + "  note"]
    lines.append("  ".join("-" * w for w in widths) + "  ----")
    for d in data:
        lines.append("  ".join(c.ljust(w) for c, w in zip(d[:5], widths, strict=True)) + "  " + d[5])
    return "\n".join(lines)


def render_markdown(rows: Sequence[Row], machine: dict[str, str], command: str, elapsed: float) -> str:
    out = [
        f"Measured with `{command}` in {elapsed / 60:.1f} min on: "
        + ", ".join(f"{k} {v}" for k, v in machine.items() if v)
        + ".",
        "",
        "| benchmark | figure | value | target | met | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = (r.bench, r.figure, r.value, r.target, r.met_text(), r.note)
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="small sizes (< 3 minutes), what CI runs")
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {BENCHES}")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table as Markdown")
    parser.add_argument(
        "--no-install", action="store_true", help="do not install requirements/bench.txt when missing"
    )
    args = parser.parse_args(argv)
    wanted = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in wanted if b not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {BENCHES}")
    machine = machine_info()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items() if v), flush=True)
    rows: list[Row] = []
    started = time.monotonic()
    with scratch_dir() as workdir:
        ctx = Context(smoke=args.smoke, workdir=workdir)
        for name in BENCHES:
            if name not in wanted:
                continue
            ctx.log(f"=== {name} ===")
            t0 = time.monotonic()
            try:
                rows.extend(_runner(name, args)(ctx))
            except Exception as err:  # one broken benchmark must not hide the others
                traceback.print_exc()
                rows.append(
                    Row(name, "benchmark failed", "N/A", "", False, f"{type(err).__name__}: {err}"[:200])
                )
            ctx.log(f"=== {name} done in {time.monotonic() - t0:.0f}s ===")
    elapsed = time.monotonic() - started
    command = "python -m benchmarks" + (" --smoke" if args.smoke else "")
    if wanted != list(BENCHES):
        command += f" --only {','.join(wanted)}"
    print()
    print(render_text(rows))
    print()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items() if v))
    missed = [r for r in rows if r.met is False]
    print(
        f"{len(rows)} figures, {sum(r.met is True for r in rows)} targets met, {len(missed)} missed; "
        f"{elapsed:.0f}s"
    )
    if args.markdown:
        args.markdown.write_text(render_markdown(rows, machine, command, elapsed))
        print(f"markdown table written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
