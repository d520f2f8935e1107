"""Local simulators of the Cliniko API (and later PayPal's) with seeded data and faults."""

from .server import SandboxServer

__all__ = ["SandboxServer"]
