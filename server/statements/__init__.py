"""Monthly provider statements: what a service company is paid on — very-satisfied
bonuses and fines for proven false reports, per technician, with the jobs behind each
line (JSON, CSV, a printable page)."""
