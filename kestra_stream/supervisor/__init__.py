"""Child processes kept running by one command: ``server standalone`` starts its components this way.

``_policy`` decides when a dead child is restarted and when the supervisor gives up (pure);
``_supervisor`` runs the children with asyncio and merges their logs; ``_child`` is the side a
child runs (dying with its supervisor, saying when it is ready).
"""

from __future__ import annotations

from kestra_stream.supervisor._child import adopt_supervision, announce_ready, supervised
from kestra_stream.supervisor._policy import GiveUp, Restart, RestartPolicy, after_exit
from kestra_stream.supervisor._supervisor import ChildFailed, ChildSpec, Supervisor

__all__ = ["ChildFailed", "ChildSpec", "GiveUp", "Restart", "RestartPolicy", "Supervisor", "adopt_supervision",
           "after_exit", "announce_ready", "supervised"]
