"""Revisions of the store schema, oldest first (r0001, r0002, ...)."""
