"""Bake transformer interpretability data into static MkDocs articles."""

# Bump when the payload layout changes. Changes to the code that computes numbers need no bump: the source of
# every module that can change a bake is hashed into each cache key (bake.code_fingerprint).
DATA_VERSION = "1"
SCHEMA_VERSION = 1

import os as _os

# OpenMP threads (torch's 2 bake threads) spin while they wait for work unless told otherwise. On a machine whose
# cores are shared, the spinning thread takes the core from the thread it waits for: a SmolLM2 forward on 5 tokens
# measured 12.6 s of CPU and 43 s of wall time at a load of 12 on 2 cores, against 1.5 s and 3.1 s with passive
# waiting (benchmarks/RESULTS.md, counterfactuals). The wait policy changes no number. It is read when OpenMP
# starts, i.e. when torch is first imported: this package sets it before it imports torch; a process that imported
# torch before it keeps its own policy.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
