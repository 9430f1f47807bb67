"""`make bench` (bench/README.md). A package only so that the import contracts (pyproject.toml)
can check it; its scripts run as files and import each other by name."""
