"""pmsync's configuration: every setting is an environment variable prefixed PMSYNC_."""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models import config_checks

DEMO_EMAIL = "demo@example.com"
DEMO_SECRET = "sandbox"

CommaList = Annotated[tuple[str, ...], NoDecode]

# The tools' address settings, with the example each message gives.
TOOL_URLS = {
    "jira_url": "https://you.atlassian.net",
    "zendesk_url": "https://yoursubdomain.zendesk.com",
    "hubspot_url": "https://api.hubapi.com",
    "intercom_url": "https://api.intercom.io",
    "freshdesk_url": "https://yourdomain.freshdesk.com",
    "salesforce_login_url": "https://yourdomain.my.salesforce.com",
}
TOOLS = tuple(name.removesuffix("_login_url").removesuffix("_url") for name in TOOL_URLS)


class ConfigError(ValueError):
    """Configuration that cannot work; the message says which setting to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PMSYNC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        "sqlite:///.pmsync/pmsync.db", description="SQLAlchemy URL of the store."
    )

    jira_url: str | None = Field(None, description="Jira Cloud site, https://you.atlassian.net")
    jira_email: str | None = Field(None, description="Email of the Jira API user.")
    jira_api_token: SecretStr | None = Field(None, description="Jira API token of that user.")
    jira_projects: CommaList = Field((), description="Project keys to read, comma separated.")
    jira_field_requests: str = Field("Customer Requests", description="Custom field name.")
    jira_field_revenue: str = Field("Customer Revenue", description="Custom field name.")
    jira_field_pipeline: str = Field("Open Pipeline", description="Custom field name.")
    jira_pipeline_carries: Literal["named", "all"] = Field(
        "named",
        description="What the pipeline field carries: 'named', the open deals that name the "
        "issue or are linked to it; 'all', those plus the asking customers' other open deals.",
    )
    comment_min_interval_hours: float = Field(
        24.0,
        ge=0,
        description="Rewrite the managed Jira comment for moved numbers at most this often "
        "(each rewrite mails the watchers); new customers or quotes rewrite it at once.",
    )

    zendesk_url: str | None = Field(None, description="https://yoursubdomain.zendesk.com")
    zendesk_email: str | None = Field(None, description="Email of the Zendesk API user.")
    zendesk_api_token: SecretStr | None = Field(None, description="Zendesk API token.")

    hubspot_url: str | None = Field(
        None, description="HubSpot API base; https://api.hubapi.com for the real service."
    )
    hubspot_access_token: SecretStr | None = Field(
        None, description="HubSpot private app access token."
    )

    intercom_url: str | None = Field(
        None, description="Intercom API base; https://api.intercom.io for the real service."
    )
    intercom_access_token: SecretStr | None = Field(None, description="Intercom access token.")

    freshdesk_url: str | None = Field(None, description="https://yourdomain.freshdesk.com")
    freshdesk_api_key: SecretStr | None = Field(None, description="Freshdesk API key.")

    salesforce_login_url: str | None = Field(
        None, description="Where to get OAuth tokens: https://yourdomain.my.salesforce.com"
    )
    salesforce_client_id: str | None = Field(None, description="Connected app consumer key.")
    salesforce_client_secret: SecretStr | None = Field(
        None, description="Connected app consumer secret (client credentials flow)."
    )

    jira_webhook_secret: SecretStr | None = Field(None, description="Jira webhook secret.")
    zendesk_webhook_secret: SecretStr | None = Field(
        None, description="Zendesk webhook signing secret."
    )
    hubspot_client_secret: SecretStr | None = Field(
        None, description="HubSpot app client secret (signs webhooks v3)."
    )
    intercom_client_secret: SecretStr | None = Field(
        None, description="Intercom app client secret (signs webhooks)."
    )
    freshdesk_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret Freshdesk automations send in a header."
    )
    salesforce_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret Salesforce outbound calls send in a header."
    )
    salesforce_webhook_header: str = Field(
        "X-Pmsync-Secret", description="Header that carries the Salesforce shared secret."
    )

    demand_labels: CommaList = Field(
        (),
        description="Labels by request count, e.g. demand-high:10,demand-medium:5; "
        "the highest reached is added, the others removed.",
    )

    account_map: str | None = Field(
        None,
        description="CSV file of source,id,account rows that join accounts no signal joins.",
    )
    tag_map: CommaList = Field(
        (),
        description="Feedback tags that ask for issues with a Jira label or component: "
        "tag:label pairs, comma separated (pdf-export:reporting).",
    )

    text_matching: bool = Field(
        True, description="Match feedback that names no issue to open issues by its text."
    )
    # The calibrated probability of being right at which a link needs no person: 0.95, the
    # precision automatic links must keep (linking/text_calibration.json; held out on the
    # evaluation set, links above it were all right). 1.0 switches them off.
    text_auto_threshold: float = Field(
        0.95,
        ge=0,
        le=1,
        description="Confidence (calibrated probability of being right) from which a text "
        "match counts in demand without a person; 1.0: never.",
    )
    text_suggest_threshold: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Confidence from which a text match is suggested (top 3) for a person.",
    )

    close_loop: bool = Field(
        False,
        description="Leave an internal note on open tickets and deals when an issue they "
        "asked for is done or released.",
    )
    close_loop_note: str = Field(
        'Good news: {key} "{summary}", which this customer asked for, is now {status}. {url}',
        description="Text of that note; {key}, {summary}, {status} and {url} are filled in.",
    )

    rate_budgets: CommaList = Field(
        (
            "jira:9",
            "zendesk:10",
            "hubspot:4",
            "intercom:150",
            "freshdesk:6",
            "salesforce:20",
        ),
        description="Requests a second each tool may get, tool:rate pairs, kept under the "
        "vendors' limits (Jira 100/10 s, Zendesk 700/min, HubSpot 100/10 s, ...).",
    )
    rate_budget_scope: Literal["process", "prefect", "off"] = Field(
        "process",
        description="Where budgets hold: this process, or across every worker through "
        "Prefect global concurrency limits that pmsync creates (needs a Prefect server).",
    )
    sync_cron: str = Field("*/15 * * * *", description="Schedule of the scheduled sync.")
    sync_timezone: str = Field("UTC", description="Time zone of that schedule.")

    reconcile_hours: int = Field(
        24,
        ge=1,
        description="Between reconciles a sync relinks and sums only what changed; every "
        "this many hours (and on --full) it relinks every record and sums every issue.",
    )
    max_delete_share: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="The most of a stream's stored records that a full listing may delete "
        "(records the tool no longer names); past it the tool's pull fails and deletes "
        "nothing, unless allow_mass_delete (sync --allow-mass-delete).",
    )
    lease_wait_s: float = Field(
        30.0,
        ge=0,
        description="How long a run waits for issues another pmsync run is writing before "
        "leaving them for the next run (one writer per issue at a time).",
    )
    allow_mass_delete: bool = Field(
        False, description="Let one full listing delete more than max_delete_share."
    )
    lookback_minutes: int = Field(
        5, ge=0, description="Re-read this much before each cursor: vendor search indexes lag."
    )
    revenue_window_days: int = Field(
        365, ge=1, description="Closed-won deals this recent count as a customer's revenue."
    )
    revenue_from: Literal["deals", "crm_field"] = Field(
        "deals",
        description="A customer's revenue: its closed-won deals in the revenue window "
        "(deals), or the revenue field of its CRM accounts, such as an ARR (crm_field).",
    )
    hubspot_revenue_property: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")] = Field(
        "annualrevenue", description="With revenue_from=crm_field: the HubSpot company property."
    )
    salesforce_revenue_field: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")] = Field(
        "AnnualRevenue", description="With revenue_from=crm_field: the Salesforce Account field."
    )
    free_mail_domains: CommaList = Field(
        (
            "gmail.com",
            "yahoo.com",
            "hotmail.com",
            "outlook.com",
            "icloud.com",
            "aol.com",
            "proton.me",
            "protonmail.com",
            "gmx.com",
            "mail.com",
        ),
        description="Email domains that never identify a company.",
    )
    http_timeout_s: float = Field(30.0, gt=0, description="Time-out of every API call.")
    http_max_attempts: int = Field(6, ge=1, description="Attempts per call on 429/5xx/errors.")
    # 200 asks every API for its largest page: fewer requests for the same records.
    page_size: int = Field(
        200,
        ge=1,
        le=1000,
        description="Records asked for per page, up to each API's largest (Jira and Zendesk "
        "lists 100, HubSpot search 200; Zendesk's export takes ten times this, up to 1,000).",
    )

    @field_validator(
        "jira_projects",
        "free_mail_domains",
        "demand_labels",
        "tag_map",
        "rate_budgets",
        mode="before",
    )
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("demand_labels")
    @classmethod
    def _label_rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        for rule in rules:
            label, _, minimum = rule.partition(":")
            if not label or " " in label or not minimum.isdigit():
                raise ValueError(f"{rule!r} is not LABEL:MIN_REQUESTS (e.g. demand-high:10)")
        return rules

    @field_validator("tag_map")
    @classmethod
    def _tag_pairs(cls, pairs: tuple[str, ...]) -> tuple[str, ...]:
        for pair in pairs:
            tag, _, target = pair.partition(":")
            if not tag or not target:
                raise ValueError(f"{pair!r} is not TAG:LABEL (e.g. pdf-export:reporting)")
        return pairs

    @property
    def tag_targets(self) -> dict[str, set[str]]:
        targets: dict[str, set[str]] = {}
        for pair in self.tag_map:
            tag, _, target = pair.partition(":")
            targets.setdefault(tag.strip().lower(), set()).add(target.strip().lower())
        return targets

    @field_validator("account_map")
    @classmethod
    def _map_readable(cls, path: str | None) -> str | None:
        # Read now, as a sync will: a binary file or wrong columns fail at start.
        return config_checks.account_map(path) if path else path

    @field_validator("rate_budgets")
    @classmethod
    def _budget_pairs(cls, pairs: tuple[str, ...]) -> tuple[str, ...]:
        for pair in pairs:
            tool, _, rate = pair.partition(":")
            try:
                if not tool or not 0 < float(rate) < math.inf:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{pair!r} is not TOOL:REQUESTS_PER_SECOND (jira:9)") from None
            if tool not in TOOLS:
                # A misspelt tool would leave the real one without any budget, silently.
                raise ValueError(f"{tool!r} in {pair!r} is not a tool: one of {', '.join(TOOLS)}")
        return pairs

    @property
    def budgets(self) -> dict[str, float]:
        return {p.partition(":")[0]: float(p.partition(":")[2]) for p in self.rate_budgets}

    @property
    def demand_label_rules(self) -> list[tuple[str, int]]:
        return [(r.partition(":")[0], int(r.partition(":")[2])) for r in self.demand_labels]

    @field_validator(*TOOL_URLS)
    @classmethod
    def _tool_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        return config_checks.http_url(value, TOOL_URLS[info.field_name or ""]).rstrip("/")

    @field_validator("salesforce_webhook_header")
    @classmethod
    def _header_name(cls, name: str) -> str:
        # An HTTP field name (RFC 9110 token): anything else never arrives as sent.
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
            raise ValueError(f"{name[:60]!r} is not an HTTP header name: e.g. X-Pmsync-Secret")
        return name

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return config_checks.database_url(value)

    @field_validator("jira_projects")
    @classmethod
    def _project_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        return config_checks.project_keys(keys)

    @field_validator("close_loop_note")
    @classmethod
    def _note_renders(cls, template: str) -> str:
        return config_checks.note_template(template)

    @field_validator("sync_cron")
    @classmethod
    def _cron(cls, expression: str) -> str:
        return config_checks.cron(expression)

    @field_validator("sync_timezone")
    @classmethod
    def _timezone(cls, name: str) -> str:
        return config_checks.timezone(name)

    @model_validator(mode="after")
    def _complete(self) -> Settings:
        """A tool with a URL must have its credentials: fail at start, not mid-run."""
        needs: dict[str, tuple[str | None, dict[str, object]]] = {
            "jira": (
                self.jira_url,
                {
                    "PMSYNC_JIRA_EMAIL": self.jira_email,
                    "PMSYNC_JIRA_API_TOKEN": self.jira_api_token,
                },
            ),
            "zendesk": (
                self.zendesk_url,
                {
                    "PMSYNC_ZENDESK_EMAIL": self.zendesk_email,
                    "PMSYNC_ZENDESK_API_TOKEN": self.zendesk_api_token,
                },
            ),
            "hubspot": (
                self.hubspot_url,
                {"PMSYNC_HUBSPOT_ACCESS_TOKEN": self.hubspot_access_token},
            ),
            "intercom": (
                self.intercom_url,
                {"PMSYNC_INTERCOM_ACCESS_TOKEN": self.intercom_access_token},
            ),
            "freshdesk": (self.freshdesk_url, {"PMSYNC_FRESHDESK_API_KEY": self.freshdesk_api_key}),
            "salesforce": (
                self.salesforce_login_url,
                {
                    "PMSYNC_SALESFORCE_CLIENT_ID": self.salesforce_client_id,
                    "PMSYNC_SALESFORCE_CLIENT_SECRET": self.salesforce_client_secret,
                },
            ),
        }
        for tool, (url, required) in needs.items():
            missing = [name for name, value in required.items() if not value]
            if url and missing:
                where = "LOGIN_URL" if tool == "salesforce" else "URL"
                raise ConfigError(
                    f"{tool} is configured (PMSYNC_{tool.upper()}_{where}) "
                    f"but {', '.join(missing)} is not set"
                )
        if self.jira_url and not self.jira_projects:
            raise ConfigError(
                "PMSYNC_JIRA_PROJECTS is not set: name the Jira project keys "
                "to read, comma separated (e.g. ANA,WEB)"
            )
        return self

    @property
    def sources(self) -> list[str]:
        """The configured tools, in the order a sync pulls them."""
        return [
            tool
            for tool, url in (
                ("jira", self.jira_url),
                ("zendesk", self.zendesk_url),
                ("intercom", self.intercom_url),
                ("freshdesk", self.freshdesk_url),
                ("hubspot", self.hubspot_url),
                ("salesforce", self.salesforce_login_url),
            )
            if url
        ]

    def require_jira(self) -> None:
        if not self.jira_url:
            raise ConfigError(
                "Jira is not configured: set PMSYNC_JIRA_URL, PMSYNC_JIRA_EMAIL, "
                "PMSYNC_JIRA_API_TOKEN and PMSYNC_JIRA_PROJECTS "
                "(or run against the sandbox with --sandbox URL)"
            )

    def revenue_field(self, crm: str) -> str | None:
        """The account field a CRM's revenue comes from, or None when it comes from deals."""
        if self.revenue_from != "crm_field":
            return None
        return {
            "hubspot": self.hubspot_revenue_property,
            "salesforce": self.salesforce_revenue_field,
        }[crm]

    @classmethod
    def for_sandbox(cls, url: str, **overrides: object) -> Settings:
        """Every tool pointed at a running sandbox, with its fixed demo credentials."""
        base = url.rstrip("/")
        secret = SecretStr(DEMO_SECRET)
        values: dict[str, object] = {
            "jira_url": f"{base}/jira",
            "jira_email": DEMO_EMAIL,
            "jira_api_token": secret,
            "jira_projects": ("ANA",),
            "zendesk_url": f"{base}/zendesk",
            "zendesk_email": DEMO_EMAIL,
            "zendesk_api_token": secret,
            "hubspot_url": f"{base}/hubspot",
            "hubspot_access_token": secret,
            "intercom_url": f"{base}/intercom",
            "intercom_access_token": secret,
            "freshdesk_url": f"{base}/freshdesk",
            "freshdesk_api_key": secret,
            "salesforce_login_url": f"{base}/salesforce",
            "salesforce_client_id": DEMO_EMAIL,
            "salesforce_client_secret": secret,
            "lookback_minutes": 0,
            "demand_labels": ("demand-high:8", "demand-medium:4"),
            "close_loop": True,
            # The sandbox limits nothing unless started with --rate-limits real.
            "rate_budget_scope": "off",
        }
        values.update(overrides)
        # Through load_settings: the rest still comes from the environment, and a bad
        # value there fails with the same one-line ConfigError.
        return load_settings(**values)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, or a ConfigError on one line that names each setting
    to fix.

    pydantic's own message echoes the input values, secrets included: never show it.
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        errors = error.errors(include_input=False, include_url=False)
        raise ConfigError(config_checks.problem_line(list(errors))) from None  # type: ignore[arg-type]
    except UnicodeDecodeError:
        raise ConfigError(
            "invalid configuration: .env is not UTF-8 text (a binary file?): write "
            "PMSYNC_NAME=value lines, or remove it"
        ) from None
    except SettingsError as error:
        # The environment or .env could not be read at all; its message names the field.
        raise ConfigError(f"invalid configuration: {str(error).splitlines()[0]}") from None
