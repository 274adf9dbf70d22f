"""The one thing pyproject.toml cannot say: `models/` (the repo's top level, where training
writes) is shipped as the package `cafe_monitor.models`, so a wheel or sdist carries its
models with no copy kept in git. Everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

setup(
    # namespace-aware: migrations/versions has no __init__.py and must ship (Alembic reads it)
    packages=[*find_namespace_packages(include=["cafe_monitor", "cafe_monitor.*"], exclude=["*.__pycache__"]),
              "cafe_monitor.models"],
    package_dir={"cafe_monitor.models": "models"},
)
