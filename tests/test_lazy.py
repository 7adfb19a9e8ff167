"""Packages whose names are imported on first use (`zhclip.lazy`): every name resolves to the object of its
home module, and none is also the name of a submodule (importing that submodule would replace the name)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

LAZY_PACKAGES = ["zhclip", "zhclip.models", "zhclip.search"]


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_every_lazy_name_is_the_object_of_its_home(name):
    package = importlib.import_module(name)
    homes = vars(package)["_HOMES"]
    submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    assert not set(homes) & submodules, "a lazy name that is also a submodule is replaced when it is imported"
    for attribute, home in homes.items():
        module = importlib.import_module(home, name)
        assert getattr(package, attribute) is getattr(module, attribute)
    assert set(homes) <= set(dir(package))
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        package.missing  # noqa: B018
