"""Everything pmsync knows of zendesk."""
