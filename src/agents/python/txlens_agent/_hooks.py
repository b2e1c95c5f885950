"""Registers every library hook the agent has, each the moment its library is imported."""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import importlib


def install():
    # Each hook module registers post-import callbacks for the libraries it
    # covers; a hook module that is absent just means less capture.
    for name in ("txlens_agent._sqlalchemy", "txlens_agent._dbapi"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.install()
