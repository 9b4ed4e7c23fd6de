"""Hooks: ``DSSHook`` (sync, requests) for workers, ``DSSAsyncHook`` (aiohttp) for triggers."""
