"""The creditwatch alerts function: error-rate, latency, traffic and drift alerts to Slack."""
