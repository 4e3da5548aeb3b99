"""The CLI's name for the one training package, creditwatch_analytics.training (shipped in the analytics image)."""

from creditwatch_analytics.training import *  # noqa: F403
from creditwatch_analytics.training import __all__  # noqa: F401
