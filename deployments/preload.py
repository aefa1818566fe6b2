"""What the forkserver of `pmsync serve` imports once, before it forks any flow run.

`deployments.serve` starts each served flow run from a forkserver instead of a fresh
Python (see `preload_flow_runs` there): a forked run begins with everything below already
imported and computed, instead of spending 2.5-3.5 s importing Prefect and pmsync first.

Only imports and pure, process-local caches belong here: no thread, no event loop, no
open connection or file (a fork copies them half-used). Importing these starts no Python
thread, which is what makes forking from the forkserver safe (the one native pool,
OpenBLAS's, is fork-aware: see below).
"""

from __future__ import annotations

import contextlib

import prefect.flow_engine  # noqa: F401  the engine each run is handed to

import flows.events  # noqa: F401  the handle-events flow and all it imports
import flows.sync  # noqa: F401
from flows.logs import for_runs
from store.migrations import head_revision

with contextlib.suppress(ImportError):
    import flows.backfill  # noqa: F401
# Text matching loads scikit-learn (~1 s) on the first feedback with text to match, which a
# `handle-events` run about a ticket that cites no issue has. numpy (imported by
# linking.accounts above) and scipy start OpenBLAS's thread pool on import: OpenBLAS
# stops it before a fork and the child starts its own (tests/test_serve.py forks and
# multiplies matrices).
with contextlib.suppress(ImportError):
    import linking.text  # noqa: F401

# Every run's pmsync lines at INFO, naming the tool, in the run's Prefect logs (serve set
# PREFECT_LOGGING_EXTRA_LOGGERS before this forkserver started).
for_runs()

# Every `Store(url)` compares the database's revision with the scripts' head; reading the
# scripts (Alembic's ScriptDirectory) is cached per process, so once here serves every run.
head_revision()
