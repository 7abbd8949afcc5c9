"""The user's workspace: the project file (``critic.toml`` found upwards, ``CRITIC_*``
variables) and the log directory every run is recorded in."""
