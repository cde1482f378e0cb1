"""HTTP routes of the sync engine: phones' pull, push and blobs, and auditors' ledger."""
