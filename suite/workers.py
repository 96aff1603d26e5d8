"""Worker pools: one bounded, named thread pool per blocking resource.

Each model or resource that blocks (Llama Guard, the injection classifier, presidio, the
embedding models, the database) runs on its own pool, never on asyncio's shared default
pool. A stalled model then only holds its own threads: a timeout on Llama Guard leaves its
thread running, but the audit writer's commits run on the database's pool and go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

_T = TypeVar("_T")

__all__ = ["WorkerPool"]


class WorkerPool:
    """A named thread pool for one resource; threads start on first use (``<name>_0``, ...).

    After ``close`` the next ``run`` starts a fresh pool, so an owner that is disposed and used
    again (a database engine) keeps working.
    """

    def __init__(self, name: str, workers: int) -> None:
        self.name = name
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run work(*args, **kwargs) on this pool and await it (cancelling drops it if not yet started)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.name)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(work, *args, **kwargs))

    def close(self) -> None:
        """Stop taking work; queued work is dropped, running work finishes in its thread."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
