"""The reports function: opens drift reports through token links, and records who opened what."""
