"""What a process costs before it does its work (docs/internals.md, "Imports that wait
until used"): ``jobdeck worker`` from spawn to its first claim, ``jobdeck enqueue`` and
``jobdeck --help``; a fresh database every worker run.

Usage::

    .venv/bin/python bench/startup.py [--database postgres|sqlite] [--runs 10]

(a) ``jobdeck worker`` (default settings, the bench handlers) on a new database holding
one pending ``bench:noop`` job: the wall seconds from spawning it to its claim (the
job's ``started_at``, which the claim writes) and the CPU seconds it used by then (read
as soon as the claim is seen, polled every 5 ms: the no-op job's run may be in it).
(b) ``jobdeck enqueue bench:noop`` on that database: wall and CPU seconds to its exit.
(c) ``jobdeck --help``: wall and CPU seconds to its exit. Each prints min / median /
max of the runs. Skipped (exit 0) on PostgreSQL when no server answers.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import time

from common import (
    JOBDECK,
    cpu_seconds,
    database,
    open_deck,
    option_parser,
    require_postgres,
    span,
    worker_env,
)

POLL = 0.005
TIME_LIMIT = 30.0


def children_cpu() -> float:
    """User + system CPU of this process's children that have exited and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of running ``argv`` to its exit (which must be 0)."""
    cpu = children_cpu()
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, children_cpu() - cpu


async def worker_run(backend: str, admin_url: str) -> tuple[float, float, float, float]:
    """(a) and (b) on a new database: the worker's wall and CPU seconds to its first
    claim, then enqueue's wall and CPU seconds."""
    with database(backend, admin_url) as url:
        async with open_deck(url) as deck:
            job = await deck.schedule_job("bench:noop")
            spawned = time.time()
            proc = subprocess.Popen(  # noqa: ASYNC220 (started once per run, before timing)
                [JOBDECK, "worker"],
                env=worker_env(url),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while True:
                    started = (await job.refresh()).started_at
                    if started is not None:
                        cpu = cpu_seconds(proc.pid)
                        break
                    if proc.poll() is not None:
                        raise RuntimeError(f"the worker exited with code {proc.returncode}")
                    if time.time() - spawned > TIME_LIMIT:
                        raise TimeoutError(f"no claim within {TIME_LIMIT} s")
                    await asyncio.sleep(POLL)
            finally:
                proc.terminate()
                proc.wait(30)
        wall = started.timestamp() - spawned
        enqueue_wall, enqueue_cpu = timed([JOBDECK, "enqueue", "bench:noop"], worker_env(url))
    return wall, cpu, enqueue_wall, enqueue_cpu


async def main() -> None:
    parser = option_parser(__doc__)
    parser.set_defaults(database="postgres")
    parser.add_argument("--runs", type=int, default=10, help="runs of each [%(default)s]")
    args = parser.parse_args()
    if args.database == "postgres":
        require_postgres(args.admin_url)
    runs = [await worker_run(args.database, args.admin_url) for _ in range(args.runs)]
    helps = [timed([JOBDECK, "--help"]) for _ in range(args.runs)]
    lines = {
        f"worker to first claim ({args.database}), wall": [r[0] for r in runs],
        f"worker to first claim ({args.database}), CPU": [r[1] for r in runs],
        f"enqueue ({args.database}), wall": [r[2] for r in runs],
        f"enqueue ({args.database}), CPU": [r[3] for r in runs],
        "--help, wall": [h[0] for h in helps],
        "--help, CPU": [h[1] for h in helps],
    }
    for name, values in lines.items():
        print(f"{name:<40} {span(values, 's', 3)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
