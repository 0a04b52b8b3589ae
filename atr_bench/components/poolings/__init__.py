"""Temporal poolings: ``[B, T, D]`` frames plus a ``[B, T]`` mask -> one ``[B, out_dim]`` vector."""
