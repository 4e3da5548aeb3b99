"""The uptime probe: the deployed API called from outside the predict function, every minute."""
