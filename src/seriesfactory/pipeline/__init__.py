"""Pipelines that chain sources, cache tiers and transforms into the jobs of the commands."""
