"""Everything pmsync knows of jira."""
