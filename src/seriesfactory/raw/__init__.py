"""Raw tier: recorded messages exactly as received (capture, readers, replay)."""
