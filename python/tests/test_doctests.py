"""The docstring examples of the installed package run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["kwh_btc_iot", "kwh_btc_iot._api", "kwh_btc_iot._types", "kwh_btc_iot._errors"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples of {name} failed (see output above)"


def test_every_public_function_has_an_example() -> None:
    import inspect

    import kwh_btc_iot as kbi

    missing = []
    for name in kbi.__all__:
        obj = getattr(kbi, name)
        if inspect.isfunction(obj) and ">>>" not in (obj.__doc__ or ""):
            missing.append(name)
    assert missing == []
