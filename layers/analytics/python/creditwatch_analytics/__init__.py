"""Code shared by the analytics image's jobs only: the lake, samples, protected groups, the report history."""
