"""Progress updates per second one handler can report (each pushed to subscribers;
store writes may be coalesced).

Usage: ``python bench/progress.py [--database sqlite|postgres]``
"""

from __future__ import annotations

import asyncio

from common import database, open_deck, options, report

SECONDS = 3.0


async def main() -> None:
    args = options(__doc__)
    with database(args.database, args.admin_url) as url:
        async with open_deck(url) as deck:
            job = await deck.schedule_job("bench:progress", {"seconds": SECONDS})
            await deck.drain()
            done = await deck.get_job(job.job_id)
            assert done is not None and done.result, done
            result = done.result
            report(
                "progress updates, one handler", result["updates"] / result["seconds"], "updates/s"
            )


if __name__ == "__main__":
    asyncio.run(main())
