"""pmsync's configuration: every setting is an environment variable prefixed PMSYNC_.

`CoreSettings` holds what is no tool's; each tool's settings are a part in its vendor
package (`connectors/<tool>/settings.py`, a subclass of `CoreSettings` with that tool's
fields, described by a `ToolPart`), and `connectors.settings.Settings` puts the parts
together. Loading (`CoreSettings.load`) works for any of them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from models import config_checks

# The sandbox's fixed demo credentials, which every tool's sandbox values use.
DEMO_EMAIL = "demo@example.com"
DEMO_SECRET = "sandbox"

# The settings one function of models.config_checks checks (and may normalise) alone.
SINGLE_CHECKS: dict[str, Callable[[str], str]] = {
    "database_url": config_checks.database_url,
    "close_loop_note": config_checks.note_template,
    "sync_cron": config_checks.cron,
    "sync_timezone": config_checks.timezone,
}


def split_commas(value: object) -> object:
    """A comma separated environment value as a tuple of its non-blank parts."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# A list setting, written comma separated in the environment (not as JSON).
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_commas)]
# The name of a CRM's property or field: it ends up in the CRM's queries.
FieldName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]


class ConfigError(ValueError):
    """Configuration that cannot work; the message says which setting to fix."""


@dataclass(frozen=True)
class ToolPart:
    """What the whole configuration needs to know of one tool's settings."""

    name: str  # the tool, as rate budgets and messages name it
    url_field: str  # its address setting: set, the tool is configured
    example: str  # a right address, which each message about it gives
    secret: str  # its secret credential setting (an API key, a token, a client secret)
    user: str | None = None  # the setting naming who signs in with it (an email), if any
    # Its values against a sandbox besides its address and credentials (Jira's projects).
    sandbox_extra: Mapping[str, object] = field(default_factory=dict)
    # A further check once every tool's credentials are there; raises ConfigError.
    more: Callable[[Any], None] | None = None

    @property
    def credentials(self) -> tuple[str, ...]:
        """The settings its address needs (checked at start), in the order messages name them."""
        return (self.user, self.secret) if self.user else (self.secret,)

    @property
    def credential_settings(self) -> str:
        """Its credentials' environment variables, as a refused call names them."""
        return " and ".join(config_checks.variable(name) for name in self.credentials)

    def sandbox(self, base: str) -> dict[str, object]:
        """Its values against a sandbox at `base`: the sandbox serves each tool under its
        name and accepts the fixed demo credentials."""
        values: dict[str, object] = {self.url_field: f"{base}/{self.name}"}
        if self.user:
            values[self.user] = DEMO_EMAIL
        values[self.secret] = SecretStr(DEMO_SECRET)
        return {**values, **self.sandbox_extra}

    def address_check(self) -> Any:
        """The validator of its address setting, for the tool's settings class: an http(s)
        URL (each message gives the example), kept without its trailing slash."""
        example = self.example

        def check(cls: type, value: str | None) -> str | None:
            if value is None:
                return value
            return config_checks.http_url(value, example).rstrip("/")

        return field_validator(self.url_field)(classmethod(check))


# What a sandbox run sets of the core settings.
SANDBOX_VALUES: dict[str, object] = {
    "lookback_minutes": 0,
    "demand_labels": ("demand-high:8", "demand-medium:4"),
    "close_loop": True,
    # The sandbox limits nothing unless started with --rate-limits real.
    "rate_budget_scope": "off",
}


class CoreSettings(BaseSettings):
    """The settings of no one tool: the store, demand, linking, schedules, budgets."""

    model_config = SettingsConfigDict(
        env_prefix=config_checks.ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # The tools a rate budget may name; empty (none known here) accepts any name.
    budget_tools: ClassVar[tuple[str, ...]] = ()

    database_url: str = Field(
        "sqlite:///.pmsync/pmsync.db", description="SQLAlchemy URL of the store."
    )

    comment_min_interval_hours: float = Field(
        24.0,
        ge=0,
        description="Rewrite the managed Jira comment for moved numbers at most this often "
        "(each rewrite mails the watchers); new customers or quotes rewrite it at once.",
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
    sync_cron: str = Field(
        config_checks.DEFAULT_CRON, description="Schedule of the scheduled sync."
    )
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
        tools = cls.budget_tools
        for pair in pairs:
            tool, _, rate = pair.partition(":")
            try:
                if not tool or not 0 < float(rate) < math.inf:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{pair!r} is not TOOL:REQUESTS_PER_SECOND (jira:9)") from None
            if tools and tool not in tools:
                # A misspelt tool would leave the real one without any budget, silently.
                raise ValueError(f"{tool!r} in {pair!r} is not a tool: one of {', '.join(tools)}")
        return pairs

    @property
    def budgets(self) -> dict[str, float]:
        return {p.partition(":")[0]: float(p.partition(":")[2]) for p in self.rate_budgets}

    @property
    def demand_label_rules(self) -> list[tuple[str, int]]:
        return [(r.partition(":")[0], int(r.partition(":")[2])) for r in self.demand_labels]

    @field_validator(*SINGLE_CHECKS)
    @classmethod
    def _single_check(cls, value: str, info: ValidationInfo) -> str:
        return SINGLE_CHECKS[str(info.field_name)](value)

    @classmethod
    def load(cls, **overrides: object) -> Self:
        """These settings from the environment, or a ConfigError on one line that names
        each setting to fix.

        pydantic's own message echoes the input values, secrets included: never show it.
        """
        try:
            return cls(**overrides)  # type: ignore[arg-type]
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
