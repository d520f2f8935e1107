"""Target tests: target-paypal run as a process on seeded clinic input (target_harness)."""

from target_harness import by_reference, clinic, target

__all__ = ["by_reference", "clinic", "target"]
