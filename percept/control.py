"""Graph control messages: the readiness handshake and end of stream between nodes.

One message type, :class:`Control` (schema ``percept.Control``, wire version 1), on topics
``ctl/<kind>/<node>`` where ``<node>`` is the sender. The node shells (:mod:`percept.shell`)
send and consume them; processors never see them.

Readiness (so that a source holds its first frame until its consumers can take it):

* ``hello``: a node that waits for others (``wait_for``) publishes one every
  :data:`HELLO_PERIOD_S` on its own endpoint. It travels the same sockets as its data, so a
  subscriber that receives it is connected *and* subscribed.
* ``ready``: a node whose processor has started and whose own ``wait_for`` are ready publishes
  one when it becomes ready, in reply to every ``hello``, and whenever its publisher sees a new
  subscription to ``ctl/``. ``heard`` lists the nodes whose ``hello`` it has received.
  A waiting node counts a node that subscribes to its data as ready only when its own name is in
  ``heard`` (the data path is proven); any other node it waits for, on the first ``ready``.

End of stream (so that a graph of file sources drains and stops by itself):

* ``end``: a node whose stream is over (a file source played its last frame, or every node it
  takes data from has ended and what was queued has been handled) publishes one after its last
  data message, then exits. ``published`` counts what it sent on each topic, so every consumer
  can tell how many messages it missed (``published - received``), whatever the policy.
  A node told to stop (SIGTERM, as the launcher does to the sources first) sends one too, so
  a stopped graph drains behind its sources; a node that crashed sends none.

On ``latest`` links the ``end`` marker travels on its own topic, so it never replaces the last
frame a slow consumer has not taken yet.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from percept.errors import MessageError
from percept.message import Message, Scalar

#: Topic prefix of every control message.
CONTROL_PREFIX = "ctl/"
#: Seconds between two ``hello`` messages of a waiting node.
HELLO_PERIOD_S = 0.05


class ControlKind(enum.StrEnum):
    """What a :class:`Control` message says."""

    HELLO = "hello"
    READY = "ready"
    END = "end"


def control_topic(kind: ControlKind | str, node: str) -> str:
    """``ctl/<kind>/<node>``: the topic a node sends control message ``kind`` on."""
    return f"{CONTROL_PREFIX}{ControlKind(kind).value}/{node}"


#: Prefixes every node shell subscribes to beside its data (what its upstream nodes send).
UPSTREAM_CONTROL = (control_topic(ControlKind.HELLO, ""), control_topic(ControlKind.END, ""))
#: Prefix a waiting node subscribes to on the nodes it waits for.
READY_CONTROL = control_topic(ControlKind.READY, "")


@dataclass(frozen=True, kw_only=True, eq=False)
class Control(Message):
    """A readiness or end-of-stream marker from node ``node`` (see the module docstring).

    Attributes:
        kind: a :class:`ControlKind` value.
        node: name of the sending node (non-empty).
        heard: ``ready`` only: the nodes whose ``hello`` the sender has received.
        published: ``end`` only: messages the sender published, per topic (control excluded).
    """

    SCHEMA: ClassVar[str] = "percept.Control"
    VERSION: ClassVar[int] = 1
    SCALARS: ClassVar[Mapping[str, Scalar]] = {
        "kind": Scalar.STR, "node": Scalar.STR, "heard": Scalar.STR_TUPLE,
        "published": Scalar.COUNT_MAP,
    }

    kind: str
    node: str
    heard: tuple[str, ...] = ()
    published: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            object.__setattr__(self, "kind", ControlKind(self.kind).value)
        except ValueError:
            raise MessageError(f"Control.kind: expected one of {[k.value for k in ControlKind]}, "
                               f"got {self.kind!r}") from None
        if not isinstance(self.node, str) or not self.node:
            raise MessageError("Control.node: expected a non-empty node name")
        object.__setattr__(self, "heard", tuple(self.heard))
        counts = dict(self.published)
        if not all(isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in counts.items()):
            raise MessageError("Control.published: expected a map of topic -> count >= 0")
        object.__setattr__(self, "published", counts)

    @property
    def topic(self) -> str:
        """The topic this message travels on (``ctl/<kind>/<node>``)."""
        return control_topic(self.kind, self.node)

    def wire_scalars(self) -> dict[str, Any]:
        return {**super().wire_scalars(), "published": dict(self.published)}


def is_control_topic(topic: str) -> bool:
    """Whether ``topic`` carries graph control messages (``ctl/...``)."""
    return topic.startswith(CONTROL_PREFIX)
