"""preserve: a digital preservation repository (BagIt, PRONOM identification, PREMIS, fixity)."""

__version__ = "0.1.0"
SOFTWARE_AGENT = f"preserve {__version__}"
