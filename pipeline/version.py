"""ferry's version: one constant, importable without the rest of the library."""

__version__ = "0.1.0"
