"""Critic roles: TOML specs and templates, plugin roles from entry points, the registry,
and the kinds that turn a role into a critic."""
