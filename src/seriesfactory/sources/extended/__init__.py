"""The Extended venue."""
