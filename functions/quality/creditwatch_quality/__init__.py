"""The quality function: realized model quality on a cohort with outcomes (a job of the analytics image)."""
