"""pyproject.toml states the licence as an SPDX string (a TOML table is deprecated: setuptools warned twice per build)."""
import sys

import pytest

from conftest import ROOT

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")


def test_license_is_an_spdx_string_and_setuptools_can_read_it():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["license"] == "MIT"
    setuptools = [r for r in meta["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools == ["setuptools>=77"]  # the first release that reads an SPDX license string
