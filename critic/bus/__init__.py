"""Message buses: the protocol and its implementations."""

from critic.bus.base import Bus, Subscription, topic_matches
from critic.bus.memory import MemoryBus
from critic.bus.nats import NatsBus

__all__ = ["Bus", "MemoryBus", "NatsBus", "Subscription", "topic_matches"]
