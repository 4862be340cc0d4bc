"""The models shipped with Kakehashi: ``registry.toml`` and one directory per model.

This directory is installed as the package ``mt._models`` (see ``[tool.setuptools.package-dir]`` in
pyproject.toml), so that an installed Kakehashi finds its models through :mod:`importlib.resources` wherever it
is installed; it holds no code that runs on import.
"""
