"""Everything pmsync knows of hubspot."""
