"""Enqueues one email job and waits for its outcome. Run: clients/python/.venv/bin/python clients/python/examples/producer.py"""

import asyncio
import json
import os

from emails import SendEmail, emails

from baton_client import Client, JobState


async def main() -> None:
    async with Client(os.environ.get("BATON_URL", "http://localhost:7600")) as client:
        # A payload failing the job type's validate is refused here, before anything is enqueued.
        enqueued = await emails.enqueue(client, SendEmail(to="alan@example.com"), max_attempts=5)
        print(json.dumps({"event": "enqueued", "id": enqueued.job.id}), flush=True)
        async with asyncio.timeout(60):
            job = await client.wait(enqueued.job.id)
        delivery = emails.decode_result(job)
        state = JobState.Name(job.state)
        print(json.dumps({"event": "finished", "id": job.id, "state": state, "delivered": delivery.delivered}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
