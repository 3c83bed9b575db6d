"""bdcert's seal-provider contract, run against the ACME provider of a bdcert workspace."""

import os
from pathlib import Path

import acme_seal
import pytest

from bdcert.config import Workspace
from bdcert_conformance import SealProviderContract

if "BDCERT_WORKSPACE" not in os.environ:
    pytest.exit("set BDCERT_WORKSPACE to the workspace of step 3 (export BDCERT_WORKSPACE=$PWD/ws)")
WORKSPACE = Workspace.load(Path(os.environ["BDCERT_WORKSPACE"]))


class TestAcmeSeal(SealProviderContract):
    @pytest.fixture
    def seal_provider(self):
        settings = dict(WORKSPACE.table("seal"))  # the [seal] table of bdcert.toml
        assert settings.pop("plugin") == "acme"
        return acme_seal.make_provider(settings, WORKSPACE.path)

    @pytest.fixture
    def authority(self):  # an authority the provider has a seal key for
        return WORKSPACE.authorities()["510100"]

    @pytest.fixture
    def trust_roots_pem(self):  # what its seals must chain to: [bdcert] trust_roots
        return WORKSPACE.trust_roots()
