"""The prediction log as Parquet in S3: its schema, the hourly export and the window reads over it."""
