"""Pure functions: explicit references, account resolution, demand aggregation."""
