"""Bakes outside the MkDocs process: `explorables bake --executor ray` (ray_bake.py), on a Ray cluster, into the
shared bake cache. Never imported by a normal build; Ray comes with the `explorables[ray]` extra."""
