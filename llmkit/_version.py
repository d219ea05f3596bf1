"""The version, apart so that low layers (plugins checks it) need not import the package."""

__all__ = ["__version__"]

__version__ = "0.1.0"
