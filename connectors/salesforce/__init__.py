"""Everything pmsync knows of salesforce."""
