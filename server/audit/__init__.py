"""The audit trail of desk actions: recorded by ``recorder`` (session events), read by
``service`` and ``routes`` (``GET /audit/events`` and its CSV export)."""
