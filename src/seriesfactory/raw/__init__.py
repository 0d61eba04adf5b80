"""Raw tier: stream capture files and the live recorder."""
