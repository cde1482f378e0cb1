"""CSV downloads: one writer (``csv_stream.py``) for every export — scorecards, jobs,
callbacks, violations and the audit trail."""
