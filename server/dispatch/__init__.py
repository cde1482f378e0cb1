"""Dispatch: technicians' calendars and capacity (``calendar``) and the installer rule
(``installs``)."""
