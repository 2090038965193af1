"""Bake transformer interpretability data into static MkDocs articles."""

# Bump when the payload layout changes. Changes to the code that computes numbers need no bump: the source of
# every module that can change a bake is hashed into each cache key (bake.code_fingerprint).
DATA_VERSION = "1"
SCHEMA_VERSION = 1

import os as _os

# OpenMP threads (torch's 2 bake threads) spin while they wait for work. On a machine whose cores are shared, the
# spinning thread takes the core from the thread it waits for; not spinning at all costs time on a quiet machine.
# A short spin (GNU OpenMP's GOMP_SPINCOUNT, iterations before a waiting thread sleeps; the default is 300,000)
# keeps both: two explanations bakes on SmolLM2 (benchmarks/RESULTS.md, "OpenMP waiting") took 25.6 s of wall time
# on a quiet machine with the default, 26.3 s with 20,000 and 37.0 s with passive waiting (OMP_WAIT_POLICY=PASSIVE);
# at a load of 7.5 on 2 cores, one of them took 139 s, 44 s and 48 s. The setting changes no number. It is read when
# OpenMP starts, i.e. when torch is first imported: this package sets it before it imports torch (unless the
# environment sets it, or OMP_WAIT_POLICY); a process that imported torch before it keeps its own.
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ.setdefault("GOMP_SPINCOUNT", "20000")
