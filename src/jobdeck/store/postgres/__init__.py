"""The PostgreSQL store: several processes on several hosts share one database."""
