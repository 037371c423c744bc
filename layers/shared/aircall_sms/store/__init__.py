"""Data access: only this package imports pynamodb. One module per table."""
