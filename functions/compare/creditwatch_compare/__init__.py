"""The compare job: champion against challenger on shadow traffic and matured outcomes (the analytics image)."""
