"""The lake export function: recent hours of the prediction log rewritten as Parquet (a job of the analytics image)."""
