"""The admin web UI (docs/ui.md)."""
