"""Prefect flows: orchestration only: pull pages, then call services.apply."""
