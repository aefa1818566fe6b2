"""Services: link, sum, publish and what a change invalidates, over the store."""
