"""Batch handlers: a worker that runs the jobs of one queue several at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from baton.v1 import worker_service_pb2 as pb

from .client import Client
from .outcome import LeaseLost, ShutdownTimeout
from .worker import Result, Task, Worker, _ack, _encode_result, _Held, _nack


class Batch:
    """The jobs of one call of a batch handler, all of one queue, each settled on its own."""

    def __init__(self, worker: BatchWorker, tasks: list[Task]) -> None:
        #: The batch's jobs, each with its own progress, continue_with and cancel_reason.
        self.tasks = tasks
        self._worker = worker
        self._settled: set[str] = set()

    def ack(self, task: Task, result: Result = None) -> None:
        """Acks the task's job now with its own result; its slot frees once the broker commits it."""
        self._settle(task, _ack(task._held, _encode_result(result), task._next))

    def fail(self, task: Task, error: BaseException) -> None:
        """Fails the task's attempt now with its own error; RetryAfter and DeadLetter steer it as
        from a handler."""
        self._settle(task, _nack(task._held, error))

    def _settle(self, task: Task, outcome: pb.SubscribeRequest) -> None:
        if not self._settle_once(task, outcome):
            raise RuntimeError(f"job {task.job.id} is settled already")

    def _settle_once(self, task: Task, outcome: pb.SubscribeRequest) -> bool:
        if task.job.id in self._settled:
            return False
        self._settled.add(task.job.id)
        self._worker._settle(task._held, outcome)
        return True

    def _fail_unsettled(self, error: BaseException) -> None:
        for task in self.tasks:
            self._settle_once(task, _nack(task._held, error))

    def _ack_unsettled(self) -> None:
        for task in self.tasks:
            self._settle_once(task, _ack(task._held, b"", task._next))


BatchHandler = Callable[[Batch], Awaitable[None]]


class BatchWorker(Worker):
    """A Worker whose handler takes up to ``max_jobs`` jobs of one queue at once.

    A batch is handed over once it has ``max_jobs`` jobs, or ``max_wait`` seconds (default 0.02)
    after its first job arrived, or at once when every slot of the worker is taken. The handler
    may settle each job with ``batch.ack`` or ``batch.fail``; when it returns, the jobs it left
    unsettled are acked with no result, and when it raises, they all fail with its error. Each
    job holds its own slot of ``concurrency`` and its own lease; a cancelled job or a lost lease
    shows in that task's ``cancel_reason``. Other options are Worker's.
    """

    def __init__(
        self,
        client: Client,
        queues: Sequence[str],
        handler: BatchHandler,
        *,
        max_jobs: int,
        max_wait: float = 0.02,
        **options: Any,
    ) -> None:
        super().__init__(client, queues, _no_single_handler, **options)
        if not isinstance(max_jobs, int) or isinstance(max_jobs, bool) or not 1 <= max_jobs <= self._concurrency:
            raise ValueError(
                f"max_jobs must be an integer from 1 to the worker's concurrency ({self._concurrency}), got {max_jobs!r}"
            )
        if not isinstance(max_wait, int | float) or not 0 <= max_wait < float("inf"):
            raise ValueError(f"max_wait must be a finite number of seconds, at least 0, got {max_wait!r}")
        self._batch_handler = handler
        self._max_jobs = max_jobs
        self._max_wait = max_wait
        self._waiting: dict[str, tuple[list[Task], asyncio.TimerHandle]] = {}
        self._batch_runners: set[asyncio.Task[None]] = set()

    def _dispatch(self, held: _Held) -> None:
        task = Task(held.job, self, held)
        queue = held.job.queue
        if queue not in self._waiting:
            timer = asyncio.get_running_loop().call_later(self._max_wait, self._release, queue)
            self._waiting[queue] = ([], timer)
        tasks, _ = self._waiting[queue]
        tasks.append(task)
        if len(tasks) >= self._max_jobs:
            self._release(queue)

    def _lose_lease(self, held: _Held, reason: LeaseLost) -> None:
        # A job still waiting for its batch leaves it: no handler may see a job it does not hold.
        for queue, (tasks, timer) in list(self._waiting.items()):
            tasks[:] = [task for task in tasks if task._held is not held]
            if not tasks:
                timer.cancel()
                del self._waiting[queue]
        super()._lose_lease(held, reason)

    def stop(self) -> None:
        super().stop()
        # No more deliveries will fill the waiting batches.
        self._release_all()

    def _handle(self, outbox: Any, response: pb.SubscribeResponse) -> None:
        super()._handle(outbox, response)
        # With every slot taken, or the worker stopping, no further job can come to fill a
        # batch: run what is there.
        if response.WhichOneof("message") == "jobs" and (len(self._held) >= self._concurrency or self._stopping):
            self._release_all()

    def _release_all(self) -> None:
        for queue in list(self._waiting):
            self._release(queue)

    def _release(self, queue: str) -> None:
        waiting = self._waiting.pop(queue, None)
        if waiting is None:
            return
        tasks, timer = waiting
        timer.cancel()
        runner = asyncio.create_task(self._run_batch(Batch(self, tasks)))
        self._batch_runners.add(runner)
        runner.add_done_callback(self._batch_runners.discard)

    async def _run_batch(self, batch: Batch) -> None:
        try:
            await self._batch_handler(batch)
        except asyncio.CancelledError:
            if not self._hard_stopped.is_set():
                raise
            batch._fail_unsettled(ShutdownTimeout("worker stopped"))
            return
        except Exception as error:  # noqa: BLE001 - any failure of a handler fails its jobs
            batch._fail_unsettled(error)
            return
        batch._ack_unsettled()

    def _force_stop(self) -> None:
        super()._force_stop()
        if self._hard_stopped.is_set():
            for runner in self._batch_runners:
                runner.cancel()


async def _no_single_handler(task: Task) -> Result:
    raise AssertionError("a BatchWorker runs its jobs in batches")
