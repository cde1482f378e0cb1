"""Maintenance plans: recurring services and the jobs made for them ahead of time."""
