"""The sandbox application: Jira, three support tools and two CRMs side by side, plus
/_sandbox."""

from datetime import datetime
from typing import Any, Unpack

from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox import admin, freshdesk, hubspot, intercom, jira, salesforce, traffic, zendesk
from sandbox.state import SandboxState
from sandbox.traffic import TrafficOptions
from sandbox.webhook_capture import ChangeCapture
from sandbox.webhooks_out import Webhooks


def create_app(
    seed: int = 7,
    *,
    now: datetime | None = None,
    scale: int = 1,
    search_lag_s: float = 0.0,
    malformed_rate: float = 0.0,
    webhook_url: str | None = None,
    webhooks: dict[str, Any] | None = None,
    tenant: str = "full",
    **traffic_options: Unpack[TrafficOptions],
) -> Starlette:
    """`traffic_options` (sandbox.traffic.TrafficOptions): `rate_limits` "real" enforces
    each tool's documented limits (sandbox.limits; shrink their windows with `limits_scale`,
    override them with `limits`); `faults` is the share of API requests that meet an
    injected fault (sandbox.faults), drawn from `fault_seed`.
    `scale` multiplies the seeded world; `search_lag_s` delays what search endpoints see of
    writes; `malformed_rate` serves that share of feedback and deal records broken.
    `webhook_url`: where every data change is sent as the tool's signed webhook
    (sandbox.webhooks_out); `webhooks` sets the sender's other settings (secrets, drop,
    duplicate and reorder rates), as `POST /_sandbox/config` does. `tenant` names the
    tenant profile (sandbox.tenants): which permissions, custom fields and currencies the
    customer's accounts have."""
    app = Starlette(
        routes=[
            Mount("/jira", routes=jira.routes()),
            Mount("/zendesk", routes=zendesk.routes()),
            Mount("/hubspot", routes=hubspot.routes()),
            Mount("/intercom", routes=intercom.routes()),
            Mount("/freshdesk", routes=freshdesk.routes()),
            Mount("/salesforce", routes=salesforce.routes()),
            Mount("/_sandbox", routes=admin.routes()),
        ]
    )
    hooks = {**(webhooks or {}), **({"webhook_url": webhook_url} if webhook_url else {})}
    problem = Webhooks.check(hooks)
    if problem:
        raise ValueError(problem)
    app.state.webhooks = Webhooks()
    app.state.webhooks.configure(hooks)
    app.add_middleware(ChangeCapture)
    app.state.sandbox = SandboxState(
        seed,
        now,
        scale=scale,
        search_lag_s=search_lag_s,
        malformed_rate=malformed_rate,
        tenant=tenant,
    )
    traffic.install(app, **traffic_options)
    return app
