"""The call log: every tool call (and, as they come, BlackBox's lifecycle webhooks), on every
surface, with its masked arguments and result, for ``GET /calls``, the console and
``toolserver calls``.

- :mod:`.entry`: what one entry holds, and how a finished call becomes one (masking included);
- :mod:`.writer`: :class:`CallLog`, the queue and the writer thread that keep it off the
  request path;
- :mod:`.store`, :mod:`.sqlite`, :mod:`.postgres`: where entries are kept;
- :mod:`.api`: the ``/calls`` routes.
"""

from toolserver.observability.calllog.entry import CallEntry, CallQuery
from toolserver.observability.calllog.writer import CallLog, Retention, open_call_log, open_store

__all__ = ["CallEntry", "CallLog", "CallQuery", "Retention", "open_call_log", "open_store"]
