"""Macroscopic descriptions computed from recorded data.

Every module here works on pandas DataFrames and numpy arrays only: it never imports the
model, so it runs on saved results and on data produced elsewhere. Time is measured in
learning steps times ``dt`` (``dt = 1`` for simulator data).
"""
