"""Local simulators of the Cliniko and PayPal APIs with seeded data and faults."""

from .server import SandboxServer

__all__ = ["SandboxServer"]
