"""A worker for the "emails" queue. Run: clients/python/.venv/bin/python clients/python/examples/worker.py [--burst]

With --burst it exits once the queue is drained, as a cron job or CI step would.
"""

import argparse
import asyncio
import json
import os
import signal

from emails import Delivery, SendEmail, emails

from baton_client import Client, Task, Worker


@emails.handler
async def send(task: Task, email: SendEmail) -> Delivery:
    task.progress(50, f"sending to {email.to}")
    print(json.dumps({"event": "sent", "id": task.job.id, "to": email.to, "attempt": task.job.attempt}), flush=True)
    return Delivery(delivered=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", action="store_true", help="exit once the queue is drained")
    args = parser.parse_args()
    async with Client(os.environ.get("BATON_URL", "http://localhost:7600")) as client:
        worker = Worker(client, [emails.queue], send, concurrency=10, burst=args.burst)
        # Ctrl-C or SIGTERM: finish the jobs in hand, then stop.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, worker.stop)
        await worker.run()
    print(json.dumps({"event": "stopped"}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
