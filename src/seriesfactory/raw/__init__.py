"""The raw tier: bytes as downloaded or recorded (verified, immutable); capture and readers."""
