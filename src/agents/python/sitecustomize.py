"""Loads the txlens agent into every Python process started under `txlens run`.

`txlens run` puts this folder first on PYTHONPATH, which makes this module the
process's `sitecustomize`. Without TXLENS_TRACE_DIR it does nothing but hand
over to the next `sitecustomize` on the path, so the user's own still runs.

The pytest plugin is declared by the `pytest11` entry point of the
txlens_agent dist-info next to this file, so pytest loads it exactly when
this folder is on sys.path. PYTEST_PLUGINS would name a module that an
isolated interpreter (python -I / -E ignores PYTHONPATH) cannot import, and
make pytest fail; the entry point just goes unseen there. When the user
turned entry points off (PYTEST_DISABLE_PLUGIN_AUTOLOAD), the plugin is
added to PYTEST_PLUGINS here instead: this code only runs where the agent
is importable.
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
    # The project's module is what `import sitecustomize` returns from now on,
    # with its own attributes, as it would be without txlens.
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _declare_pytest_plugin():
    if not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return
    plugin = "txlens_agent.pytest_plugin"
    plugins = [p.strip() for p in os.environ.get("PYTEST_PLUGINS", "").split(",") if p.strip()]
    if plugin not in plugins:
        os.environ["PYTEST_PLUGINS"] = ",".join(plugins + [plugin])


if os.environ.get("TXLENS_TRACE_DIR"):
    _start_txlens()
    _declare_pytest_plugin()

_chain_to_next_sitecustomize()
