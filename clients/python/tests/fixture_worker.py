"""A worker process for tests that need one to kill or to chain with other languages.

It takes jobs from QUEUE and prints JSON lines: {"event": "started"} when a job starts and
{"event": "done"} once it finished. HOLD_MS keeps each job running that long first. The result
is the payload with "|py" appended (a dependant's payload first takes "<" and its blockers' results
joined with "+", so a DAG's results show who ran each step); with CONTINUE_TO set, the job also continues into a job on
that queue carrying the result as its payload. BATON_TOKEN, when set, is the API token it
connects with.
"""

import asyncio
import json
import os
import signal

from baton_client import Client, JobSpec, Task, Worker


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def handle(task: Task) -> bytes:
    job = task.job
    emit("started", id=job.id, attempt=job.attempt, chainId=job.chain_id, parentId=job.parent_id)
    await asyncio.sleep(int(os.environ.get("HOLD_MS", "0")) / 1000)
    results = [result.result for result in task.depends_on_results]
    result: bytes = job.payload + (b"<" + b"+".join(results) if results else b"") + b"|py"
    if os.environ.get("CONTINUE_TO"):
        task.continue_with(JobSpec(queue=os.environ["CONTINUE_TO"], payload=result))
    emit("done", id=job.id)
    return result


async def main() -> None:
    async with Client(os.environ["BATON_URL"], token=os.environ.get("BATON_TOKEN")) as client:
        worker = Worker(client, [os.environ["QUEUE"]], handle, on_error=lambda error: emit("error", error=str(error)))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, worker.stop)
        emit("ready")
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
