"""The service report: one job's visit, work, charges, photos and sign-off, as JSON for
desks and as a printable page for customers."""
