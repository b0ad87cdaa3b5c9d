"""The sandbox on loopback, as the sandbox's own integration tests start it (a free port, in a thread)."""

from tests.integration.sandbox.conftest import sandbox, sandbox_bars, start_sandbox

__all__ = ["sandbox", "sandbox_bars", "start_sandbox"]
