"""DS logo fixtures (defined in tests/ds/logo_env.py, shared with the tests that import it)."""

from tests.ds.logo_env import logos

__all__ = ["logos"]
