"""geopain: pain assessment from the geometry of faces."""
__version__ = "0.1.0"
