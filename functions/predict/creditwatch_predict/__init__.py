"""The creditwatch predict function: a FastAPI app served by Lambda through Mangum."""
