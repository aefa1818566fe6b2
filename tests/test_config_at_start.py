"""Configuration checked at start: every setting parsed and validated before any request;
a bad one stops every command with one line naming the setting and what to fix (exit 2, no
traceback, no secret), and `pmsync check` reports the same line in its configuration row."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from processes import run_python
from typer.testing import CliRunner

from connectors import registry
from connectors.settings import TOOL_URLS, Settings, load_settings
from models import ConfigError
from pmsync.cli import app

ROOT = Path(__file__).parent.parent
SECRET = "pa55-w0rd-never-shown"
runner = CliRunner()

# Each tool's URL setting, with the credentials that make the tool complete.
CREDENTIALS = {
    "jira_url": {"jira_email": "a@b.c", "jira_api_token": SECRET, "jira_projects": "ANA"},
    "zendesk_url": {"zendesk_email": "a@b.c", "zendesk_api_token": SECRET},
    "hubspot_url": {"hubspot_access_token": SECRET},
    "intercom_url": {"intercom_access_token": SECRET},
    "freshdesk_url": {"freshdesk_api_key": SECRET},
    "salesforce_login_url": {"salesforce_client_id": "id", "salesforce_client_secret": SECRET},
}


pytestmark = pytest.mark.usefixtures("clean_environment")


def problem(**values: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**values)
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    return message


# -- values refused at start, setting by setting -----------------------------------------

# (setting, value, what the one line must say besides the setting's name)
REFUSED = [
    # JQL characters in Jira project keys.
    *[
        ("jira_projects", keys, "not a Jira project key")
        for keys in ["ANA) OR project in (WEB", 'ANA"', "ANA WEB", "AN-A", "1ANA", "A", "ANA;WEB"]
    ],
    # Unknown time zones.
    *[
        ("sync_timezone", zone, "IANA time zone")
        for zone in ["Mars/Olympus", "utc+2", "../../etc/passwd", ""]
    ],
    # Garbage or unsupported database URLs.
    ("database_url", "not a url", "not a database URL"),
    ("database_url", f"://me:{SECRET}@host/db", "not a database URL"),
    ("database_url", f"mysql://me:{SECRET}@host/db", "'mysql'"),
    ("database_url", f"postgresql://me:{SECRET}@host/db", "psycopg"),
    ("database_url", f"postgresql+psycopg2://me:{SECRET}@host/db", "'postgresql+psycopg2'"),
    ("database_url", f"postgresql+psycopg://me:{SECRET}@host:99999/db", "port 99999"),
    # A budget for no known tool or no finite rate: a misspelt tool used to leave the real
    # one without any budget.
    ("rate_budgets", "jria:9", "'jria' in 'jria:9' is not a tool"),
    ("rate_budgets", "Jira:9", "is not a tool"),
    ("rate_budgets", "jira:nan", "TOOL:REQUESTS_PER_SECOND"),
    ("rate_budgets", "jira:inf", "TOOL:REQUESTS_PER_SECOND"),
    ("rate_budgets", "jira:0", "TOOL:REQUESTS_PER_SECOND"),
    # The Salesforce webhook header must be a header name.
    *[
        ("salesforce_webhook_header", header, "HTTP header name")
        for header in ["X Secret", "X-Secret:", "", "Sécret"]
    ],
]


@pytest.mark.parametrize(("setting", "value", "why"), REFUSED)
def test_a_refused_value_fails_at_start_naming_its_setting(
    setting: str, value: str, why: str
) -> None:
    message = problem(**{setting: value})
    assert f"PMSYNC_{setting.upper()}:" in message and why in message


# -- tool URLs ----------------------------------------------------------------------------

MALFORMED_URLS = {
    "no scheme": ("example.com", "no http(s)://"),
    "host and port, no scheme": ("example.com:8443", "no http(s)://"),
    "ftp": ("ftp://example.com", "'ftp://'"),
    "port out of range": ("https://example.com:99999", "port"),
    "port not a number": ("https://example.com:https", "port"),
    "space inside": ("https://exa mple.com", "white space"),
    "no host": ("https://", "no host"),
    "no host, a port": ("https://:8443/path", "no host"),
}


@pytest.mark.parametrize("field", list(TOOL_URLS))
@pytest.mark.parametrize("case", list(MALFORMED_URLS))
def test_a_malformed_tool_url_names_its_setting(field: str, case: str) -> None:
    value, why = MALFORMED_URLS[case]
    message = problem(**{field: value, **CREDENTIALS[field]})
    assert f"PMSYNC_{field.upper()}:" in message and why in message
    assert TOOL_URLS[field] in message  # the example of a right value


@pytest.mark.parametrize("field", list(TOOL_URLS))
def test_a_good_tool_url_loads_without_its_slash_and_blanks(field: str) -> None:
    settings = load_settings(**{field: " https://example.com:8443/base/ ", **CREDENTIALS[field]})
    assert getattr(settings, field) == "https://example.com:8443/base"


def test_a_password_in_a_tool_url_is_never_shown() -> None:
    message = problem(jira_url=f"ftp://me:{SECRET}@example.com", **CREDENTIALS["jira_url"])
    assert "PMSYNC_JIRA_URL" in message and "***@example.com" in message


# -- the account map ----------------------------------------------------------------------


def test_a_binary_account_map_fails_at_start(tmp_path: Path) -> None:
    picture = tmp_path / "accounts.csv"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    message = problem(account_map=str(picture))
    assert message.startswith("invalid configuration: PMSYNC_ACCOUNT_MAP:")
    assert "source,id,account" in message


def test_an_account_map_with_nul_bytes_fails_at_start(tmp_path: Path) -> None:
    dump = tmp_path / "accounts.csv"
    dump.write_bytes(b"zendesk,1,acme.com\n\x00\x00\x00\n")
    assert "PMSYNC_ACCOUNT_MAP:" in problem(account_map=str(dump))


@pytest.mark.parametrize(
    "rows", ["zendesk,1\n", "zendesk,1,acme.com,extra\n", "zendesk,,acme.com\n"]
)
def test_an_account_map_with_wrong_columns_names_the_line(tmp_path: Path, rows: str) -> None:
    table = tmp_path / "accounts.csv"
    table.write_text("source,id,account\nhubspot,7,acme.com\n" + rows)
    message = problem(account_map=str(table))
    assert "PMSYNC_ACCOUNT_MAP:" in message and f"{table}:3" in message


def test_a_missing_account_map_fails_and_a_good_one_loads(tmp_path: Path) -> None:
    assert "does not exist" in problem(account_map=str(tmp_path / "nowhere.csv"))
    good = tmp_path / "accounts.csv"
    good.write_text("source,id,account\nhubspot,7,acme.com\n")
    assert load_settings(account_map=str(good)).account_map == str(good)


# -- the closing-the-loop note ------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{key} is {state}", "unknown placeholder {state}"),
        ("{key} is done {", "not a valid template"),
        ("{} is done", "without a name"),
        ("{0} is done", "without a name"),
        ("{key.name} is done", "not a valid template"),
        ("{summary[x]} is done", "not a valid template"),
        ("{key!z} is done", "not a valid template"),
    ],
)
def test_a_bad_placeholder_in_the_note_fails_at_start(template: str, why: str) -> None:
    message = problem(close_loop_note=template)
    assert "PMSYNC_CLOSE_LOOP_NOTE:" in message and why in message
    assert "{key}, {summary}, {status}, {url}" in message


def test_a_note_with_every_placeholder_and_literal_braces_loads() -> None:
    template = "{{pmsync}} {key} {summary} {status} {url}"
    assert load_settings(close_loop_note=template).close_loop_note == template


# -- Jira project keys --------------------------------------------------------------------


def test_project_keys_typed_in_lower_case_are_read_as_keys() -> None:
    assert load_settings(jira_projects="ana, web_2").jira_projects == ("ANA", "WEB_2")


# -- the schedule -------------------------------------------------------------------------

CRONS = [
    "*/15 * * * *",
    "0 6 * * mon-fri",
    "* * * *",
    "61 * * * *",
    "every hour",
    "H * * * *",
    # Where croniter versions differ: Prefect's copy refuses W, newer croniter takes it.
    "0 0 15W * *",
    "0 0 * * 5#3",
    "0 0 * * * 30",
]


@pytest.mark.parametrize("expression", CRONS)
def test_the_cron_is_judged_as_prefect_judges_it(expression: str) -> None:
    """What passes here is what Prefect's Cron schedule accepts in `pmsync serve`."""
    from prefect.schedules import Cron

    try:
        Cron(expression, timezone="UTC")
    except ValueError:
        prefect_accepts = False
    else:
        prefect_accepts = True
    try:
        load_settings(sync_cron=expression)
    except ConfigError as error:
        assert "PMSYNC_SYNC_CRON:" in str(error)
        assert not prefect_accepts
    else:
        assert prefect_accepts


def test_an_iana_time_zone_loads() -> None:
    assert load_settings(sync_timezone="Europe/Berlin").sync_timezone == "Europe/Berlin"


# -- the store ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///relative.db", "postgresql+psycopg://me:pw@db.example:5432/x"]
)
def test_a_supported_database_url_loads(url: str) -> None:
    assert load_settings(database_url=url).database_url == url


def test_pydantic_messages_never_echo_values() -> None:
    message = problem(http_timeout_s=SECRET, rate_budget_scope=SECRET)
    assert "PMSYNC_HTTP_TIMEOUT_S:" in message and "PMSYNC_RATE_BUDGET_SCOPE:" in message


# -- the commands -------------------------------------------------------------------------

BAD_ENVIRONMENTS = {
    "url": ({"PMSYNC_HUBSPOT_URL": "api.hubapi.com"}, "PMSYNC_HUBSPOT_URL"),
    "note": ({"PMSYNC_CLOSE_LOOP_NOTE": "{key} is {state}"}, "PMSYNC_CLOSE_LOOP_NOTE"),
    "projects": ({"PMSYNC_JIRA_PROJECTS": "ANA) OR (1=1"}, "PMSYNC_JIRA_PROJECTS"),
    "cron": ({"PMSYNC_SYNC_CRON": "*/15 * * *"}, "PMSYNC_SYNC_CRON"),
    "timezone": ({"PMSYNC_SYNC_TIMEZONE": "Mars/Olympus"}, "PMSYNC_SYNC_TIMEZONE"),
    "database": ({"PMSYNC_DATABASE_URL": f"mysql://me:{SECRET}@h/db"}, "PMSYNC_DATABASE_URL"),
}


def bad_environment(monkeypatch: pytest.MonkeyPatch, case: str) -> str:
    """Sets the variables of one of BAD_ENVIRONMENTS; returns the setting its error names."""
    variables, setting = BAD_ENVIRONMENTS[case]
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return setting


def one_error_line(result: object, setting: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert isinstance(result.exception, SystemExit)  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and setting in lines[0], lines
    assert "Traceback" not in result.output and SECRET not in result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", list(BAD_ENVIRONMENTS))
@pytest.mark.parametrize(
    "command", [["sync"], ["status"], ["publish", "--dry-run"], ["links", "list"], ["webhooks"]]
)
def test_every_command_stops_at_start_with_one_line(
    monkeypatch: pytest.MonkeyPatch, case: str, command: list[str]
) -> None:
    setting = bad_environment(monkeypatch, case)
    one_error_line(runner.invoke(app, command), setting)


@pytest.mark.parametrize("case", ["note", "cron", "timezone", "database"])
def test_the_sandbox_option_keeps_the_environment_checked(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """--sandbox sets the tools and credentials; every other setting is still checked."""
    setting = bad_environment(monkeypatch, case)
    one_error_line(runner.invoke(app, ["sync", "--sandbox", "http://127.0.0.1:1"]), setting)


def test_serve_stops_on_a_bad_cron_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """It used to pass `check` and fail inside `serve`."""
    monkeypatch.setenv("PMSYNC_SYNC_CRON", "0 25 * * *")
    result = runner.invoke(app, ["serve"])
    one_error_line(result, "PMSYNC_SYNC_CRON")
    assert "(out of range)" in result.stderr


@pytest.mark.parametrize("case", list(BAD_ENVIRONMENTS))
def test_check_reports_the_same_line_in_its_configuration_row(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    setting = bad_environment(monkeypatch, case)
    stopped = runner.invoke(app, ["status"])
    done = runner.invoke(app, ["check", "--json"])
    assert done.exit_code == 1 and SECRET not in done.stdout
    [row] = json.loads(done.stdout)["checks"]
    assert row["name"] == "configuration" and not row["ok"] and setting in row["detail"]
    assert stopped.stderr.strip() == f"error: {row['detail']}"


@pytest.mark.parametrize("command", [["sync"], ["publish"], ["check"], ["deadletters", "replay"]])
def test_sandbox_option_followed_by_another_option_is_not_a_url(command: list[str]) -> None:
    """`sync --sandbox --json` read '--json' as the sandbox's URL."""
    result = runner.invoke(app, [*command, "--sandbox", "--json"])
    one_error_line(result, "--sandbox")
    assert "URL" in result.stderr and "'--json'" in result.stderr


@pytest.mark.parametrize("value", ["127.0.0.1:8765", "ftp://127.0.0.1:8765", "http://h:70000"])
def test_sandbox_option_must_be_an_http_url(value: str) -> None:
    one_error_line(runner.invoke(app, ["sync", "--sandbox", value]), "--sandbox")


def test_sandbox_on_a_port_in_use_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["sandbox", "--port", str(port)])
    one_error_line(result, f"port {port}")
    assert "in use" in result.stderr and "--port" in result.stderr


@pytest.mark.parametrize(
    ("options", "says"),
    [(["--port", "70000"], "--port 70000"), (["--host", "no such host.invalid"], "--host")],
)
def test_sandbox_on_an_impossible_address_says_so(options: list[str], says: str) -> None:
    one_error_line(runner.invoke(app, ["sandbox", *options]), says)


# -- a missing Jira custom field: found mid-run, shown as one line ------------------------


def test_publish_names_a_missing_custom_field_in_one_line(sandbox_url: str, store_url: str) -> None:
    from flows.pipeline import pull_source
    from store import Store

    settings = Settings.for_sandbox(sandbox_url, database_url=store_url)
    for source in registry.configured(settings):
        pull_source(settings, Store(store_url, upgrade=True), source, True)
    env = {"PMSYNC_DATABASE_URL": store_url, "PMSYNC_JIRA_FIELD_REQUESTS": "Customer Asks"}
    result = runner.invoke(app, ["publish", "--sandbox", sandbox_url], env=env)
    one_error_line(result, "'Customer Asks'")


def test_sync_through_prefect_names_a_missing_custom_field_without_tracebacks(
    sandbox_url: str, store_url: str, tmp_path: Path
) -> None:
    """Prefect logs a failed task and flow with tracebacks; the command shows the line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMSYNC_")}
    env.update(
        PMSYNC_DATABASE_URL=store_url,
        PMSYNC_JIRA_FIELD_REQUESTS="Customer Asks",
        PYTHONPATH=str(ROOT),
    )
    done = run_python(
        "-m",
        "pmsync",
        "sync",
        "--sandbox",
        sandbox_url,
        "--json",
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "ConfigError" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "Customer Asks" in line]
    assert len(errors) == 1 and errors[0].startswith("error: Jira has no custom field"), errors


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["sandbox", "--webhook-url", "127.0.0.1:8766"], "--webhook-url"),
        (["webhooks", "--public-url", "hooks example.com"], "--public-url"),
    ],
)
def test_other_url_options_must_be_http_urls(command: list[str], option: str) -> None:
    one_error_line(runner.invoke(app, command), option)


def test_the_public_url_from_the_environment_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PMSYNC_WEBHOOK_PUBLIC_URL", "ftp://hooks.example.com")
    one_error_line(runner.invoke(app, ["webhooks"]), "PMSYNC_WEBHOOK_PUBLIC_URL")


@pytest.mark.parametrize("case", ["note", "cron", "timezone"])
def test_demo_checks_the_environment_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    setting = bad_environment(monkeypatch, case)
    one_error_line(runner.invoke(app, ["demo"]), setting)


def test_a_token_in_a_url_query_is_never_shown() -> None:
    message = problem(jira_url=f"ftp://example.com/?token={SECRET}", **CREDENTIALS["jira_url"])
    assert "PMSYNC_JIRA_URL" in message and "'ftp://example.com/?...'" in message
    message = problem(database_url=f"mysql://me@host/db?password={SECRET}")
    assert "PMSYNC_DATABASE_URL" in message and "'mysql://me@host/db'" in message


def test_a_revenue_field_that_is_not_a_name_says_what_a_name_is() -> None:
    message = problem(hubspot_revenue_property="annual revenue")
    assert message == (
        "invalid configuration: PMSYNC_HUBSPOT_REVENUE_PROPERTY: should be a name: "
        "a letter, then letters, digits or _"
    )


def test_a_binary_env_file_stops_with_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    one_error_line(runner.invoke(app, ["status"]), ".env is not UTF-8 text")
