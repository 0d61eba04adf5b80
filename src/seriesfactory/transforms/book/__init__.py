"""L2 order books rebuilt from snapshots and diffs (see docs/book.md)."""
