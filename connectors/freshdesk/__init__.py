"""Everything pmsync knows of freshdesk."""
