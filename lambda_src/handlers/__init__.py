"""Lambda entry points ``handlers.<fn>.handler``: parse the event, call the domain, map the result.

A handler's init creates some 100,000 objects that live as long as the execution environment
(botocore's models and event handlers, pydantic's validators) and next to no garbage, yet Python's
cyclic collector walks all of them again and again while they are being created: a sixth of
default's and broadcast's init. So importing this package pauses the collector, and each handler
module ends with :func:`init_complete` (ADR 0017).
"""

import gc

_paused = gc.isenabled()
if _paused:
    gc.disable()


def init_complete() -> None:
    """The end of a handler module's init. After the first one, what init built is frozen — later
    collections skip it, so invocations do not pay for scanning it either — and collection resumes."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
