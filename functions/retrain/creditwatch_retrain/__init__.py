"""The retrain job, on demand: a challenger trained on a window's matured outcomes, registered (the analytics image)."""
