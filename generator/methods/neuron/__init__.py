"""The neuron view's method: queries and keys of chosen heads (section.py), chosen by options.py."""
