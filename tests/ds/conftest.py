"""DS logo fixtures (defined in tests/ds/logo_env.py, shared with the tests that import it)."""

from tests.ds.logo_env import cd_logos, failing_proxy, logos, proxied_logos

__all__ = ["cd_logos", "failing_proxy", "logos", "proxied_logos"]
