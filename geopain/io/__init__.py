"""Reading and writing landmark tables, and readers for the formats users already have."""
from .tables import read_table, sequences_from_frame, sequences_to_frame, write_table

__all__ = ["read_table", "write_table", "sequences_to_frame", "sequences_from_frame"]
