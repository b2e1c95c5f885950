"""txlens capture agent for Python: loaded through sitecustomize when `txlens run` sets TXLENS_TRACE_DIR."""

__version__ = "0.1.0"
