"""A Lambda context object for handlers run outside Lambda.

The handlers read three things from the context: ``invoked_function_arn`` (a sink finds its
connector by the alias at the end of it), ``aws_request_id`` (a source task owns its lease by it)
and ``get_remaining_time_in_millis()`` (both stop starting new work before the deadline). The
local runtime, ``lambda-connect invoke`` and the tests build the same object, so a handler sees
the shapes it sees in Lambda.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

__all__ = ["LOCAL_ACCOUNT", "LOCAL_REGION", "LambdaContext", "function_arn"]

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "000000000000"


def function_arn(function_name: str, qualifier: str | None = None, *, region: str = LOCAL_REGION,
                 account: str = LOCAL_ACCOUNT) -> str:
    """``arn:aws:lambda:<region>:<account>:function:<name>[:<alias>]``: what an ESM wired to an
    alias puts in ``invoked_function_arn``."""
    arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
    return f"{arn}:{qualifier}" if qualifier else arn


@dataclass
class LambdaContext:
    """The attributes and method of ``awslambdaric``'s context that handlers use.

    The deadline is fixed when the object is built, as in Lambda: the remaining time counts down
    from ``timeout_ms`` whatever the handler does.
    """

    function_name: str
    timeout_ms: int
    invoked_function_arn: str = ""
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = function_arn(self.function_name)
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"
        if not self.log_stream_name:
            self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + self.aws_request_id.replace("-", "")
        self._deadline = time.monotonic() + self.timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out (never negative)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    @property
    def timed_out(self) -> bool:
        """True once the deadline has passed: Lambda would have stopped the invocation."""
        return time.monotonic() >= self._deadline
