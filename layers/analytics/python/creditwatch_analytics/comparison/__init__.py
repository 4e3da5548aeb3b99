"""Champion against challenger on the same applicants: decisions, realized quality, fairness, a verdict."""
