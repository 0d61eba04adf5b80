"""The store's services: ingestion, inline bars, the daemon and its scheduling (docs/store.md)."""
