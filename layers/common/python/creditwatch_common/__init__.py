"""Code shared by the creditwatch functions: AWS clients and the prediction log."""
