"""The quality function: realized model quality on a cohort with outcomes (built from the drift image)."""
