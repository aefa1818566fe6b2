"""What publishing writes on Jira (connectors.tracker.Publishing): which custom field
carries which number (PMSYNC_JIRA_FIELD_*, and PMSYNC_JIRA_PIPELINE_CARRIES for the
pipeline field), the managed comment and the property (connectors.jira.comment), and the
writer that sends them (connectors.jira.write); and new issues (connectors.jira.create),
their descriptions in Atlassian Document Format."""

from __future__ import annotations

from decimal import Decimal

from connectors.jira import adf, comment
from connectors.jira.client import JiraConnector
from connectors.jira.create import create_issue
from connectors.jira.settings import JiraSettings
from connectors.jira.write import JiraWriter
from connectors.tracker import Bullets, Document, Span
from models import DemandSummary


def _number(value: Decimal | int) -> int | float:
    return value if isinstance(value, int) else float(value)


def _spans(spans: tuple[Span, ...]) -> list[adf.Node]:
    return [adf.text(s.text, bold=s.bold, link=s.link) for s in spans]


def as_adf(document: Document) -> adf.Node:
    """A document in Atlassian Document Format: paragraphs and bullet lists."""
    return adf.doc(
        *(
            adf.bullet_list([_spans(item) for item in block.items])
            if isinstance(block, Bullets)
            else adf.paragraph(*_spans(block.spans))
            for block in document
        )
    )


class JiraPublishing:
    def __init__(self, settings: JiraSettings) -> None:
        self.settings = settings

    def writer(self) -> JiraWriter:
        return JiraWriter(JiraConnector(self.settings))

    def field_values(self, summary: DemandSummary) -> dict[str, int | float]:
        """Configured fields by name -> value; a field whose name is empty is switched off."""
        values = {
            self.settings.jira_field_requests: summary.requests,
            self.settings.jira_field_revenue: _number(summary.revenue),
            self.settings.jira_field_pipeline: _number(
                summary.named_pipeline
                if self.settings.jira_pipeline_carries == "named"
                else summary.open_pipeline
            ),
        }
        return {name: value for name, value in values.items() if name}

    def field_names(self) -> list[str]:
        """The configured fields' names (an empty name switches its field off)."""
        return self.settings.demand_fields()

    comment_basis = staticmethod(comment.comment_basis)
    material_change = staticmethod(comment.material_change)
    numbers_changed = staticmethod(comment.numbers_changed)
    render_comment = staticmethod(comment.render_comment)
    fit_property = staticmethod(comment.fit_property)
    property_bytes = staticmethod(comment.property_bytes)

    def default_project(self) -> str | None:
        return next(iter(self.settings.jira_projects), None)

    def create_issue(
        self, project: str, summary: str, description: Document, label: str
    ) -> tuple[str, bool]:
        jira = JiraConnector(self.settings)
        return create_issue(jira, project, summary, as_adf(description), label)
