"""Handles mirroring the official client's scenario object model, bound to a :class:`DSSHook`."""
