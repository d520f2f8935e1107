"""The Cliniko half of the sandbox."""

from .store import ClinikoStore

__all__ = ["ClinikoStore"]
