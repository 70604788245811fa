"""Package version, written into every IR's rt_info."""
__version__ = "0.3.0"
