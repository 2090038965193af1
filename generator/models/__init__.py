"""Model registry (names -> sources), loading, and architecture adapters."""
