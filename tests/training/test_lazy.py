"""Tests of contrique_training.lazy: packages whose names import their modules only when first used."""

from __future__ import annotations

import subprocess
import sys

import pytest

from contrique_training.lazy import lazy_exports


def test_importing_a_package_imports_none_of_its_modules() -> None:
    code = ("import sys, contrique_training.proxy, contrique_training.probe, contrique_training.evaluation\n"
            "print(sorted(m for m in sys.modules if m.startswith('contrique_training.') and m.count('.') == 2), "
            "'torch' in sys.modules, 'scipy' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout == "[] False False\n"


def test_a_name_imports_its_module_once_and_is_kept() -> None:
    import contrique_training.proxy as proxy
    from contrique_training.proxy import fade

    assert proxy.add_fade is fade.add_fade
    assert "add_fade" in vars(proxy)  # kept: the next lookup does not go through __getattr__
    assert set(proxy.__all__) >= {"add_fade", "add_contrast_floor", "make_proxy_set", "main", "ProxyError"}
    assert proxy.__all__ == sorted(proxy.__all__)


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import() -> None:
    all_, getattr_ = lazy_exports("contrique_training.proxy", {"fade": ("add_fade",)})
    assert all_ == ["add_fade"]
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        getattr_("nothing")
    from contrique_training.proxy import amend  # a module, not an exported name

    assert callable(amend.write_heads)
