"""The deployment hooks of PredictFunction: the PreTraffic model gate and the PostTraffic alarm check."""
