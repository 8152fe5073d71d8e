"""Built-in recipes and hardware profiles live at the top of the repository (recipes/,
hardware_profiles/) and ship inside the installed package as localeval.builtin_recipes and
localeval.builtin_profiles. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

BUILTIN_DATA = {
    "localeval.builtin_recipes": "recipes",
    "localeval.builtin_profiles": "hardware_profiles",
}

setup(
    packages=[*find_packages(include=["localeval", "localeval.*"]), *BUILTIN_DATA],
    package_dir={"localeval": "localeval", **BUILTIN_DATA},
)
