"""The customer's own page behind a signed link: ``links`` (tokens), ``service`` (what it
shows and does), ``html`` (the page), ``routes``."""
