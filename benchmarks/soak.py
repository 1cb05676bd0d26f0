"""The whole stack for minutes under load and chaos, then proof that nothing was lost.

    .venv/bin/python -m benchmarks.soak                      # 10 minutes, 600 jobs (make soak)
    .venv/bin/python -m benchmarks.soak --minutes 3 --jobs 150 --seed 2

A private stack on free loopback ports (Firestore emulator, the Cloud Tasks emulator with
Cloud Tasks' dispatching, the offline model, the api, two worker processes behind a
round-robin proxy, the cleanup), project ``demo-qgen-soak``, logs under ``.dev/logs/soak/``.
Learners create jobs through the api (some behind one address), cancel some, retry failed
ones; the model fails a share of calls at random in twelve ways; a worker is SIGKILLed and
restarted every ~20 s; task bodies are delivered twice; the recovery sweep runs every 3 s.
The drive stops by itself, the stack settles (bounded), and then Firestore and the functions'
structured logs are checked (benchmarks/soaking/invariants.py).

Exit status: 0 every invariant held, 1 one did not, 2 the run could not be carried out,
130 interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
from pathlib import Path

import typer
from rich.console import Console

from benchmarks.interrupts import raise_interrupt
from benchmarks.soaking.options import SoakOptions
from benchmarks.soaking.report import print_result
from benchmarks.soaking.run import run_soak
from dev.stack import StackError

cli = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)
DEFAULTS = SoakOptions()
JSON_OUT = typer.Option(None, help="Also write the figures and the checks as JSON.")


@cli.command()
def main(
    minutes: float = typer.Option(DEFAULTS.minutes, min=0.5, help="Length of the drive."),
    jobs: int = typer.Option(DEFAULTS.jobs, min=1, help="Jobs created over the drive."),
    learners: int = typer.Option(DEFAULTS.learners, min=2, help="Learners creating them."),
    shared: int = typer.Option(
        DEFAULTS.shared_address_learners, min=0, help="Of the learners, how many share an address."
    ),
    workers: int = typer.Option(DEFAULTS.workers, min=2, help="Worker processes."),
    seed: int = typer.Option(DEFAULTS.seed, help="Seed of the load, the chaos and the faults."),
    kill_every: float = typer.Option(DEFAULTS.kill_every_seconds, min=5.0, help="Seconds."),
    fault_rate: float = typer.Option(DEFAULTS.fault_rate, min=0.0, max=0.9),
    settle_seconds: float = typer.Option(DEFAULTS.settle_seconds, min=10.0),
    json_out: Path | None = JSON_OUT,
) -> None:
    signal.signal(signal.SIGTERM, raise_interrupt)
    options = dataclasses.replace(
        DEFAULTS,
        minutes=minutes,
        jobs=jobs,
        learners=learners,
        shared_address_learners=min(shared, learners),
        workers=workers,
        seed=seed,
        kill_every_seconds=kill_every,
        fault_rate=fault_rate,
        settle_seconds=settle_seconds,
    )
    console = Console()
    try:
        result = run_soak(options, console)
    except StackError as exc:
        console.print(f"[red]The soak could not run:[/] {exc}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    print_result(console, options, result)
    if json_out is not None:
        checks = {c.name: c.violations for c in result.checks}
        json_out.write_text(json.dumps({"figures": result.figures.numbers, "checks": checks}))
    raise typer.Exit(0 if result.passed else 1)


if __name__ == "__main__":
    sys.exit(cli())
