"""Attention weights as the head and model views draw them."""
