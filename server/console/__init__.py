"""The web console: pages for dispatchers (and later auditors) served as static files,
plus the read models those pages need that the feature APIs do not give in one call."""
