"""Inference: serve a leaderboard's selected production model, with fallbacks and budgets.

One call, one concern per module:

1. who and where (``prepare.py``): the token (``inference`` scope, the leaderboard's
   workspace), the leaderboard, its candidates and their endpoints (provider keys decrypted),
   from a cache of at most ``inference_cache_seconds`` staleness: no database read on a warm
   path but a budget's;
2. money first (``charge.py``): a token with a budget has its spend read fresh; spent → 402;
3. the chain (``chain.py``, ``failures.py``): the selected model (manual pin or ranking
   winner), then the next models of the ranking, at most ``inference.fallbacks`` of them. A
   timeout, 5xx or 429 moves to the next; a content refusal or any 4xx does not (it is the
   answer, or the request's fault);
4. time: each attempt may take ``inference.timeout_seconds``, the whole request (every attempt,
   or for a stream the wait for its first chunk) ``inference.deadline_seconds`` or the client's
   own timeout when it sends one, whichever is less. An attempt never outlives the deadline, and
   no attempt starts past it: the answer is then 504 ``deadline_exceeded``;
5. after the answer (``charge.py``, ``trace.py``, ``feedback.py``): its cost (provider
   ``usage.cost`` first, price table second) is added to the token's spend with an atomic
   increment (before answering for a budgeted token, just after for the others), and the trace
   (and, when configured, the pushed row of the feedback loop) is written off the response path.

A stream is relayed by ``relay.py``; a call with an ``Idempotency-Key`` is answered once by
``keyed.py``. The services return domain results (:class:`Answer`, :class:`Started`,
:class:`Keyed`) or raise domain errors; ``functions/inference.py`` renders them (bodies,
headers, server-sent events). Nothing here speaks Firestore or HTTP.
"""

from shared.services.inference.call import Answer, Call, Caller, Started
from shared.services.inference.chain import complete, stream
from shared.services.inference.charge import finish
from shared.services.inference.keyed import Keyed, once
from shared.services.inference.prepare import authenticate, prepare
from shared.services.inference.relay import relay
from shared.services.inference.trace import usage

__all__ = [
    "Answer",
    "Call",
    "Caller",
    "Keyed",
    "Started",
    "authenticate",
    "complete",
    "finish",
    "once",
    "prepare",
    "relay",
    "stream",
    "usage",
]
