"""Pages fetched ahead of the store's writes, for pulls."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from typing import Any

from connectors.base import Page


def prefetched(pages: Iterator[Page], depth: int = 2) -> Iterator[Page]:
    """The same pages, fetched ahead by a thread while the caller stores the last one: the
    wait for the API overlaps the store's writes. Each page is still stored, with its
    cursor, before the next is taken, and an error in the fetch is raised here, in order."""
    ahead: queue.Queue[tuple[str, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for page in pages:
                if not put(("page", page)):
                    return
            put(("end", None))
        except BaseException as error:  # handed to the caller, raised there
            put(("error", error))
        finally:
            close = getattr(pages, "close", None)
            if close:
                close()

    # In the caller's context: its lines (retries, waits) name the tool and reach the run's
    # Prefect logs, which a thread's empty context would drop.
    run_in_context = contextvars.copy_context().run
    worker = threading.Thread(
        target=run_in_context, args=(fetch,), name="pmsync-prefetch", daemon=True
    )
    worker.start()
    try:
        while True:
            kind, item = ahead.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
