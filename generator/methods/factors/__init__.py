"""Neuron activation factors: non-negative matrix factorisation of MLP neuron values (positions x neurons)."""
