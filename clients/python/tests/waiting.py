"""The suite's one way to wait for something the broker does in its own time."""

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], Awaitable[bool]], what: str = "the condition") -> None:
    """Returns once check() answers True; fails, naming what it waited for, after 10 seconds."""
    try:
        async with asyncio.timeout(10):
            while not await check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
