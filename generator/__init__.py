"""Bake transformer interpretability data into static MkDocs articles."""

# Bump when the payload layout changes. Changes to the code that computes numbers need no bump: the source of
# every module that can change a bake is hashed into each cache key (bake.code_fingerprint).
DATA_VERSION = "1"
SCHEMA_VERSION = 1
