"""The sandbox application: Jira, Zendesk and HubSpot side by side, plus /_sandbox."""

from datetime import datetime

from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox import admin, hubspot, jira, zendesk
from sandbox.state import SandboxState


def create_app(seed: int = 7, *, now: datetime | None = None) -> Starlette:
    app = Starlette(
        routes=[
            Mount("/jira", routes=jira.routes()),
            Mount("/zendesk", routes=zendesk.routes()),
            Mount("/hubspot", routes=hubspot.routes()),
            Mount("/_sandbox", routes=admin.routes()),
        ]
    )
    app.state.sandbox = SandboxState(seed, now)
    return app
