"""Deliberately broken reference implementations, one module per plan (the self-test)."""
