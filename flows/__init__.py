"""Prefect flows: orchestration only; the steps live in flows.pipeline as plain functions."""
