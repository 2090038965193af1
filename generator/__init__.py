"""Bake transformer interpretability data into static MkDocs articles."""

# Bump when a method or the payload layout changes what a bake produces: it is part of every cache key.
DATA_VERSION = "1"
SCHEMA_VERSION = 1
