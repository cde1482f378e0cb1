"""Scorecards: how each technician and each service company did over a period — jobs,
completion, very-satisfied customers, contradicted claims, first-time fixes, repeat
repairs, urgent SLAs and the money that follows (bonus, fines) — ranked, as JSON or CSV."""
