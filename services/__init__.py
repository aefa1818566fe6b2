"""Services: link, sum, publish and close the loop, each over one scope (services.scope);
`services.apply.apply` runs them in order for every caller. Never imports flows."""
