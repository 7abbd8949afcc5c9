"""Message buses: in memory (:mod:`.memory`) and NATS JetStream (:mod:`.nats`); topics as
values (:mod:`.topics`); hosting agents on a bus (:mod:`.hosting`), agents that never raise
(:mod:`.agents`), time limits over many items (:mod:`.deadlines`), a session's side
(:mod:`.coordinator`); long-running workers (:mod:`.worker`). The
:class:`~critic.protocols.Bus` protocol lives in :mod:`critic.protocols`."""
