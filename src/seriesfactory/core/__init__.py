"""Infrastructure below every stage: crash-safe files, retry backoff, time, threads, progress.

Nothing here knows about venues, tiers or events; every stage may import it and
it imports nothing of the project but :mod:`seriesfactory.errors`.
"""
