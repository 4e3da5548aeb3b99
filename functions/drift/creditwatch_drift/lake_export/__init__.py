"""The lake export function: recent hours of the prediction log rewritten as Parquet (built from the drift image)."""
