"""Everything pmsync knows of intercom."""
