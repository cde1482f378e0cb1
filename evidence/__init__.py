"""Judging the evidence: what each claim needs (``rules``), the re-check of a claim
against those rules (``verdicts``), and how likely a claim is to be false and why
(``risk``). The sync engine moves the facts; this package weighs them."""
