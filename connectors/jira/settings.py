"""Jira's settings: the site, its API user, the projects read and the fields written."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from models import config_checks
from models.settings import (
    CommaList,
    ConfigError,
    CoreSettings,
    ToolPart,
)


def _projects_named(settings: JiraSettings) -> None:
    if settings.jira_url and not settings.jira_projects:
        raise ConfigError(
            "PMSYNC_JIRA_PROJECTS is not set: name the Jira project keys "
            "to read, comma separated (e.g. ANA,WEB)"
        )


JIRA = ToolPart(
    "jira",
    "jira_url",
    "https://you.atlassian.net",
    secret="jira_api_token",
    user="jira_email",
    sandbox_extra={"jira_projects": ("ANA",)},
    more=_projects_named,
)


class JiraSettings(CoreSettings):
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
    jira_webhook_secret: SecretStr | None = Field(None, description="Jira webhook secret.")

    _jira_url = JIRA.address_check()

    @field_validator("jira_projects")
    @classmethod
    def _project_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        return config_checks.project_keys(keys)

    def demand_fields(self) -> list[str]:
        """The custom fields pmsync is configured to write (an empty name switches its
        field off)."""
        fields = (self.jira_field_requests, self.jira_field_revenue, self.jira_field_pipeline)
        return [name for name in fields if name]

    def require_jira(self) -> None:
        if not self.jira_url:
            raise ConfigError(
                "Jira is not configured: set PMSYNC_JIRA_URL, PMSYNC_JIRA_EMAIL, "
                "PMSYNC_JIRA_API_TOKEN and PMSYNC_JIRA_PROJECTS "
                "(or run against the sandbox with --sandbox URL)"
            )
