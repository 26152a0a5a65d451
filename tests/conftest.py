"""Fixtures every test folder may use."""

pytest_plugins = ("tests.support.valkey",)
