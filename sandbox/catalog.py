"""Product features of the sandbox company, Acme Analytics (a hosted BI product).

Each feature becomes one Jira issue in project ANA. `asks` are how customers describe
the same need in their own words, without naming the issue: they are planted in support
tickets so that text matching has something honest to find.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    summary: str
    component: str
    labels: tuple[str, ...]
    description: str
    asks: tuple[tuple[str, str], ...]  # (ticket subject, ticket body) in a customer's voice


def _f(summary: str, component: str, labels: str, description: str, *asks: str) -> FeatureSpec:
    pairs = tuple((asks[i], asks[i + 1]) for i in range(0, len(asks), 2))
    return FeatureSpec(summary, component, tuple(labels.split()), description, pairs)


FEATURES: tuple[FeatureSpec, ...] = (
    _f(
        "SAML single sign-on for Okta",
        "Security",
        "sso enterprise",
        "Let workspace admins configure SAML 2.0 SSO with Okta as the identity provider, "
        "including just-in-time user creation and enforced SSO-only login.",
        "Logging in through our identity provider",
        "Our security team wants everyone to sign in through Okta instead of separate "
        "passwords. Is there a way to hook your login up to our IdP?",
        "Central login requirement from IT",
        "IT is rolling out a policy that every SaaS tool must use our corporate identity "
        "provider for authentication. We can't keep local accounts for your product.",
    ),
    _f(
        "Export dashboards to PDF",
        "Dashboards",
        "export reporting",
        "Add a 'Download as PDF' action on dashboards that renders every tile at print "
        "resolution, with a cover page and the active filters listed.",
        "Printable version of a dashboard",
        "Our board wants a printable copy of the KPI dashboard every month. Screenshots "
        "look terrible, can we get a proper document file out of it?",
        "Sharing dashboards with people without a login",
        "I need to send the weekly dashboard to our investors as an attachment they can "
        "open offline. Is there a document export?",
    ),
    _f(
        "Slack alerts when a metric crosses a threshold",
        "Alerts",
        "slack integrations",
        "Post a message to a chosen Slack channel when a metric goes above or below a "
        "configured threshold, with a link back to the chart.",
        "Notify our channel when numbers go off",
        "We live in Slack. Could your product ping our #ops channel when signups drop "
        "below a certain level? Right now someone has to check the chart by hand.",
        "Chat notification for KPI limits",
        "When daily revenue goes over or under a limit we set, we'd love a message in our "
        "team chat workspace rather than having to look at the dashboard.",
    ),
    _f(
        "Scheduled email reports",
        "Reporting",
        "email reporting",
        "Let users subscribe themselves or a distribution list to a dashboard snapshot "
        "delivered by email on a daily, weekly or monthly schedule.",
        "Recurring report in my inbox",
        "Can I get the sales overview sent to my inbox every Monday morning automatically? "
        "Our managers won't log in but they read email.",
        "Automatic weekly summary by email",
        "We would like a weekly digest mailed to the leadership list with the main charts, "
        "without someone having to remember to send it.",
    ),
    _f(
        "Snowflake connector",
        "Data Pipeline",
        "connector warehouse",
        "Native connector to Snowflake using key-pair authentication, with warehouse and "
        "role selection and incremental table sync.",
        "Connecting our Snowflake warehouse",
        "All our data moved to Snowflake last quarter. Do you support reading directly "
        "from it? Exporting CSVs every day isn't sustainable.",
        "Warehouse support question",
        "We're a Snowflake shop. Is there a built-in way to point your product at our "
        "warehouse with a service user and key pair?",
    ),
    _f(
        "BigQuery connector",
        "Data Pipeline",
        "connector warehouse gcp",
        "Connect Google BigQuery datasets with a service-account JSON key; support "
        "partitioned tables and cost controls on query bytes.",
        "Google Cloud data source",
        "Our analytics data sits in Google's warehouse on GCP. Can your tool query those "
        "datasets directly with a service account?",
        "Reading from our GCP datasets",
        "We need to build charts on tables that live in BigQuery-style datasets on Google "
        "Cloud. What are the options today?",
    ),
    _f(
        "Role-based access control for workspaces",
        "Admin",
        "rbac permissions enterprise",
        "Introduce Viewer, Editor and Admin roles per workspace, assignable to users and "
        "groups, and enforce them across dashboards, data sources and settings.",
        "Restricting who can edit dashboards",
        "Right now everyone on our account can change or delete any dashboard. We need "
        "some people to only view while analysts can edit.",
        "Permission levels for our team",
        "Is it possible to give the sales team read-only access and keep editing rights "
        "for the data team? Different permission levels per workspace would be ideal.",
    ),
    _f(
        "Audit log export",
        "Admin",
        "compliance security",
        "Record admin and data-access events (logins, permission changes, exports) and "
        "let admins export them as CSV or stream them to a SIEM.",
        "Who changed what in our account",
        "Our compliance officer asked for a record of who logged in, who changed "
        "permissions and who exported data. Do you keep such a history we can download?",
        "Activity history for SOC 2",
        "For our SOC 2 audit we need to show a trail of user activity and admin changes "
        "inside your product. Can we get that out?",
    ),
    _f(
        "Dark mode",
        "UI",
        "ux theme",
        "Offer a dark colour theme for the whole web app, following the OS preference by "
        "default with a manual override per user.",
        "Darker theme for the app",
        "Our NOC team keeps the dashboards on wall screens at night and the bright white "
        "background is painful. Any chance of a dark theme?",
        "Eye strain with the white UI",
        "Several of our analysts asked whether the interface can follow the operating "
        "system's dark appearance setting.",
    ),
    _f(
        "Custom SQL metrics",
        "Metrics",
        "sql metrics",
        "Allow defining a metric from a hand-written SQL query with parameters, reusable "
        "across charts and validated against the connected source.",
        "Writing our own queries for a KPI",
        "The metric builder can't express our churn definition. Could we type the query "
        "ourselves and save it as a reusable measure?",
        "Defining metrics with raw queries",
        "Our analysts are fluent in SQL and want to define measures with their own SELECT "
        "statements instead of the point-and-click builder.",
    ),
    _f(
        "Embeddable dashboards with signed URLs",
        "Embedding",
        "embedding api",
        "Let customers embed dashboards in their own apps through an iframe with signed, "
        "expiring URLs and per-viewer filter locking.",
        "Showing charts inside our own product",
        "We want to put your charts inside our customer portal so our users see their own "
        "numbers. Is there a secure way to embed them?",
        "White-label embedding question",
        "Can a dashboard be placed in an iframe in our web app, with each of our clients "
        "only seeing their own rows?",
    ),
    _f(
        "SCIM user provisioning",
        "Security",
        "sso scim enterprise",
        "Implement a SCIM 2.0 endpoint so identity providers can create, update and "
        "deactivate users and groups automatically.",
        "Automatic deprovisioning of leavers",
        "When someone leaves the company our IdP disables them everywhere except your "
        "product. We need users created and removed automatically from our directory.",
        "Syncing users from Azure AD",
        "Can your user directory be kept in sync with Azure AD so new hires get accounts "
        "and groups without an admin adding them by hand?",
    ),
    _f(
        "Microsoft Teams notifications",
        "Alerts",
        "teams integrations",
        "Deliver alert notifications and scheduled snapshots to Microsoft Teams channels "
        "through an incoming webhook or the Teams app.",
        "Alerts in Teams instead of email",
        "We don't use Slack, our whole company is on Microsoft's chat tool. Could the "
        "alerts be posted into a Teams channel?",
        "Microsoft collaboration integration",
        "Is there any way to push dashboard notifications to our Microsoft collaboration "
        "workspace? Email alerts get lost.",
    ),
    _f(
        "Anomaly detection on time series",
        "Alerts",
        "ml alerts",
        "Detect unusual points in a metric's time series using seasonal baselines and "
        "flag them on charts and in alerts, without a fixed threshold.",
        "Spotting unusual spikes automatically",
        "We can't set fixed limits because our traffic is seasonal. Could the tool notice "
        "when something looks abnormal compared to the usual pattern?",
        "Automatic outlier flags",
        "It would help a lot if charts highlighted points that are out of the ordinary on "
        "their own, without us defining rules for each metric.",
    ),
    _f(
        "Row-level security",
        "Security",
        "permissions data",
        "Restrict which rows each user or group can see in a data source based on "
        "attribute rules, applied to every query and export.",
        "Regional managers should only see their region",
        "Our regional managers must only see figures for their own territory in the "
        "same dashboard. Can access be filtered per user at the data level?",
        "Filtering data by user attributes",
        "We need one dashboard for all franchisees where each franchisee only sees their "
        "own stores' records.",
    ),
    _f(
        "Data retention policies",
        "Admin",
        "compliance gdpr",
        "Let admins set how long raw uploaded data and query results are kept, with "
        "automatic purging and a report of what was deleted.",
        "Automatically deleting old data",
        "Our legal team wants uploaded files and cached results removed after 90 days. "
        "Can we configure how long you keep our data?",
        "Storage duration controls",
        "Is there a setting to purge historical data after a fixed period to satisfy our "
        "privacy policy?",
    ),
    _f(
        "CSV upload for ad-hoc data",
        "Data Pipeline",
        "upload csv",
        "Allow uploading CSV and Excel files as a data source, with type inference, "
        "header detection and the option to append or replace.",
        "Uploading a spreadsheet quickly",
        "Sometimes we just have a spreadsheet from finance and want to chart it. Could we "
        "drag a file in instead of setting up a database?",
        "One-off file as a data source",
        "We'd like to analyse a one-off export from our ERP. Uploading the file directly "
        "would save us setting up a connection.",
    ),
    _f(
        "Public REST API for dashboards",
        "API",
        "api developer",
        "Publish a documented REST API to list, create and update dashboards and charts, "
        "authenticated with personal access tokens.",
        "Managing dashboards programmatically",
        "We generate one dashboard per client and doing it by hand takes hours. Is there "
        "an API to create and update dashboards from a script?",
        "Automation of dashboard setup",
        "Our engineers want to provision dashboards from our onboarding pipeline. Do you "
        "expose endpoints for that?",
    ),
    _f(
        "Webhooks on alert events",
        "API",
        "api alerts webhooks",
        "Send a signed HTTP POST to a configured URL whenever an alert fires or resolves, "
        "with retries and a delivery log.",
        "Calling our endpoint when an alert fires",
        "We'd like alerts to trigger our own automation. Could your system send an HTTP "
        "request to our service when an alert goes off?",
        "Alert callbacks to PagerDuty",
        "We want alert events pushed to a URL so we can route them into our on-call tool.",
    ),
    _f(
        "Enforce two-factor authentication",
        "Security",
        "security mfa",
        "Let admins require TOTP or WebAuthn second factors for every member of the "
        "account, with a grace period and recovery codes.",
        "Requiring 2FA for all our users",
        "Our insurer requires multi-factor login on every system. Can an admin force all "
        "users to set up a second factor?",
        "MFA mandatory for the team",
        "Is there an account-wide switch so nobody can log in with only a password?",
    ),
    _f(
        "Multi-currency support in revenue reports",
        "Reporting",
        "finance currency",
        "Store a currency per amount, convert with daily rates to a reporting currency "
        "and show the original and converted values.",
        "Revenue in euros and pounds",
        "We sell in EUR, GBP and USD and the revenue report adds them up as if they were "
        "the same currency. We need conversion to a base currency.",
        "Exchange rates in reports",
        "Our subsidiaries report in different currencies. Could the reports convert "
        "amounts with daily FX rates?",
    ),
    _f(
        "Dashboard version history and restore",
        "Dashboards",
        "collaboration",
        "Keep every saved version of a dashboard with author and time, show a diff and "
        "allow restoring an earlier version.",
        "Undoing changes someone made to a dashboard",
        "A colleague overwrote our main dashboard and we lost the old layout. Is there a "
        "way to go back to a previous version?",
        "History of dashboard edits",
        "We'd like to see who edited a dashboard and roll back to how it looked last week.",
    ),
    _f(
        "Drill-down from chart to underlying rows",
        "Dashboards",
        "charts ux",
        "Clicking a bar or point opens the underlying records with the chart's filters "
        "applied, exportable as CSV.",
        "Seeing the records behind a bar",
        "When a bar in the chart looks odd, our analysts want to click it and see the "
        "individual rows that make up that number.",
        "Click through to detail data",
        "Is there a way to go from an aggregated chart to the detailed list of "
        "transactions behind it?",
    ),
    _f(
        "Salesforce connector",
        "Data Pipeline",
        "connector crm",
        "Sync Salesforce objects (opportunities, accounts, custom objects) via OAuth with "
        "incremental updates on SystemModstamp.",
        "Pulling opportunities from our CRM",
        "Our pipeline data lives in Salesforce. Can your product pull opportunities and "
        "accounts without us exporting reports every week?",
        "CRM data source for sales dashboards",
        "We'd like sales dashboards fed directly from our Salesforce org.",
    ),
    _f(
        "Google Sheets sync",
        "Integrations",
        "integrations google",
        "Push a chart's data to a Google Sheet on a schedule and read sheets as a live "
        "data source.",
        "Getting numbers into a spreadsheet automatically",
        "Our finance team builds models in Google's spreadsheet tool. Could the chart data "
        "be sent to a sheet every night?",
        "Live spreadsheet as a source",
        "Can we point a chart at a shared Google spreadsheet and have it refresh when the "
        "sheet changes?",
    ),
    _f(
        "Native iOS app",
        "Mobile",
        "mobile ios",
        "A native iPhone and iPad app to browse dashboards, receive alert push "
        "notifications and view charts offline.",
        "Checking dashboards on the phone",
        "Our executives travel a lot and the mobile website is awkward. Is an iPhone app "
        "on the roadmap?",
        "App for iPad",
        "We would like an app for our iPads in the stores so managers can see the daily figures.",
    ),
    _f(
        "Custom branding and colour palettes",
        "Embedding",
        "branding embedding",
        "Let accounts upload a logo, choose fonts and define chart colour palettes applied "
        "to dashboards, embeds and emailed reports.",
        "Using our brand colours in charts",
        "Marketing insists the charts use our brand colours and logo when we share them "
        "with clients. Can we set our own palette?",
        "Removing your logo from shared reports",
        "For client-facing reports we need our own logo and colours instead of yours.",
    ),
    _f(
        "Fiscal calendar support",
        "Reporting",
        "finance calendar",
        "Support custom fiscal years and 4-4-5 / 4-5-4 retail calendars in date filters, "
        "groupings and period-over-period comparisons.",
        "Our financial year starts in April",
        "All our reporting runs on a fiscal year starting 1 April, but quarters in the "
        "tool are calendar quarters. Can we change that?",
        "Retail 4-4-5 calendar",
        "We're a retailer using a 4-4-5 week calendar. Monthly comparisons are wrong "
        "because the tool uses calendar months.",
    ),
    _f(
        "Cohort retention charts",
        "Charts",
        "charts product-analytics",
        "New chart type showing retention by signup cohort as a triangle heatmap, with "
        "configurable cohort period and activity definition.",
        "Retention by signup month",
        "We want to see what share of customers who joined in each month are still "
        "active later, the classic triangle view.",
        "Customer cohort analysis",
        "Is there a way to group users by the week they started and track how many come "
        "back over time?",
    ),
    _f(
        "Funnel visualization",
        "Charts",
        "charts product-analytics",
        "Funnel chart with ordered steps, conversion rates between steps and breakdown by "
        "a dimension.",
        "Conversion between steps",
        "We'd like to show how many visitors go from trial signup to activation to paid, "
        "with the drop-off at each step.",
        "Step-by-step drop-off chart",
        "Could you add a chart that shows the drop between stages of our onboarding flow?",
    ),
    _f(
        "Query result caching for faster dashboards",
        "Performance",
        "performance",
        "Cache query results per dashboard with configurable freshness so repeated views "
        "load instantly and warehouse costs fall.",
        "Dashboards are slow to open",
        "Our main dashboard takes almost a minute to load every time anyone opens it, "
        "even though the data only changes nightly. Could results be reused?",
        "Warehouse bill from repeated queries",
        "Each view of a dashboard re-runs all queries and our warehouse costs went up. "
        "We'd like stored results that refresh on a schedule.",
    ),
    _f(
        "EU data residency",
        "Infrastructure",
        "compliance gdpr enterprise",
        "Offer an EU region where all customer data and backups are stored and processed "
        "within the European Union.",
        "Keeping our data in Europe",
        "Our DPO says customer data must stay within the EU. Where is our data hosted and "
        "can we choose a European region?",
        "Hosting location for GDPR",
        "Before renewing, legal needs confirmation that data can be stored and processed "
        "only in European data centres.",
    ),
    _f(
        "IP allowlisting",
        "Security",
        "security network",
        "Let admins restrict access to the web app and API to a list of IP ranges.",
        "Only allow access from our office network",
        "Security wants the product reachable only from our corporate network and VPN "
        "ranges. Can we restrict logins by IP address?",
        "Network restrictions for the account",
        "Is there a way to block access from outside our known IP ranges?",
    ),
    _f(
        "Comments and annotations on charts",
        "Collaboration",
        "collaboration",
        "Let users pin comments to a point or range on a chart, mention colleagues and "
        "show annotations to every viewer.",
        "Explaining a dip directly on the chart",
        "When there's an outage we want to note it right on the graph so everyone "
        "understands the dip later.",
        "Discussion on charts",
        "It would be great to leave notes on a chart and tag colleagues instead of "
        "discussing in email threads.",
    ),
    _f(
        "Dashboard folders with permissions",
        "Collaboration",
        "organization permissions",
        "Organise dashboards in nested folders with favourites and per-folder sharing.",
        "Too many dashboards to find anything",
        "We have hundreds of dashboards in one long list. Could we group them in folders "
        "per department?",
        "Organising dashboards by team",
        "Is it possible to put dashboards into team folders and share a whole folder at once?",
    ),
    _f(
        "Terraform provider",
        "API",
        "api developer iac",
        "Publish a Terraform provider to manage data sources, users, groups and "
        "dashboards as code.",
        "Managing configuration as code",
        "Our platform team manages all SaaS settings as code. Is there an infrastructure "
        "as code provider for your product?",
        "Reproducible account setup",
        "We need to recreate the same data sources and groups across three environments "
        "from version-controlled config.",
    ),
    _f(
        "dbt metrics integration",
        "Data Pipeline",
        "dbt metrics",
        "Read metric and model definitions from a dbt project so metrics stay defined in "
        "one place.",
        "Reusing our dbt definitions",
        "Our metrics are already defined in our dbt project. Can your tool read them "
        "instead of us redefining everything?",
        "Single source of truth for metrics",
        "We don't want two definitions of revenue. Could you import the semantic layer "
        "from our transformation project?",
    ),
    _f(
        "Forecasting on time series charts",
        "Metrics",
        "ml forecasting",
        "Extend line charts with a forecast band using seasonal models and show expected "
        "versus actual values.",
        "Projecting next quarter",
        "Finance would love to see where a metric is heading, with a projected line for "
        "the next few months on the same chart.",
        "Predicting future values",
        "Can charts show a predicted trend with a confidence range based on history?",
    ),
    _f(
        "Localised UI in German, French and Japanese",
        "UI",
        "i18n ux",
        "Translate the web app and emails into German, French and Japanese with "
        "locale-aware number and date formats.",
        "Interface in German",
        "Many of our warehouse staff don't read English well. Is the application "
        "available in German?",
        "Translations for our Tokyo office",
        "Our team in Japan asked whether the product can be used in Japanese, and "
        "whether dates can follow the local format.",
    ),
    _f(
        "Usage analytics for admins",
        "Admin",
        "admin analytics",
        "Give admins a report of active users, most viewed dashboards and stale content "
        "to manage licences.",
        "Which dashboards are actually used",
        "We pay for a lot of seats. Can admins see who is active and which dashboards "
        "nobody opens any more?",
        "Licence usage report",
        "Before renewal we need to know how many people used the product in the last 90 days.",
    ),
)
