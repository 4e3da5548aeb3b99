"""The earlier name of creditwatch_analytics.training.challenger, for src/creditwatch/demo_loop.py."""

from creditwatch_analytics.training.challenger import Challenger, Matured, matured_from_table, train_challenger

__all__ = ["Challenger", "Matured", "matured_from_table", "train_challenger"]
