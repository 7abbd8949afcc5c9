"""Message buses: the protocol and its implementations."""

from critic.bus.base import Bus, Subscription, topic_matches
from critic.bus.memory import MemoryBus

__all__ = ["Bus", "MemoryBus", "Subscription", "topic_matches"]
