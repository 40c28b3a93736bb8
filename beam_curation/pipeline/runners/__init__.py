"""Execution support: the fixed Dask runner and the extraction sandbox."""
