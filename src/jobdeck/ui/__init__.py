"""The admin web UI (SPEC §9; docs/ui.md)."""
