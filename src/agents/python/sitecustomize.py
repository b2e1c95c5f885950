"""Loads the txlens agent into every Python process started under `txlens run`.

`txlens run` puts this folder first on PYTHONPATH, which makes this module the
process's `sitecustomize`. Without TXLENS_TRACE_DIR it does nothing but hand
over to the next `sitecustomize` on the path, so the user's own still runs.
"""

import os
import sys


def _start_txlens():
    try:
        from txlens_agent import _runtime
    except Exception as exc:  # a broken agent must not break the user's interpreter
        try:
            sys.stderr.write("txlens: capture disabled in this process: %s\n" % exc)
        except Exception:
            pass
        return
    if not _runtime.start():
        return
    try:
        from txlens_agent import _hooks

        _hooks.install()
    except Exception as exc:
        _runtime.fail(exc)


def _chain_to_next_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    import importlib.machinery
    import importlib.util

    others = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


if os.environ.get("TXLENS_TRACE_DIR"):
    _start_txlens()

_chain_to_next_sitecustomize()
