"""The creditwatch drift function: Evidently reports of logged inputs against the training reference."""
