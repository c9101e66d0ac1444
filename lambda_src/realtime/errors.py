"""Domain errors. Adapters translate AWS errors into these; services never see botocore."""


class DomainError(Exception):
    """Base of every error the domain raises or handles."""


class StaleConnection(DomainError):
    """The WebSocket connection no longer exists (@connections answered 410 Gone)."""


class Throttled(DomainError):
    """A dependency asked us to slow down (429, LimitExceeded, DynamoDB throughput/throttling)."""


class DeliveryFailed(DomainError):
    """A message could not be delivered for another reason (5xx, timeout, 403…)."""


class DeliveryUnavailable(DeliveryFailed):
    """A delivery failed in a way a later attempt may not: the service answered 5xx, or the request
    timed out or broke below HTTP (connect, reset). Retried by the fan-out; a 4xx is not."""


class StoreUnavailable(DomainError):
    """The connection store failed for a reason other than throttling."""


class LimitReached(DomainError):
    """A capacity limit refused the operation; nothing was written."""


class GlobalLimitReached(LimitReached):
    """The global connection counter is at ``GLOBAL_CONNECTION_LIMIT`` ($connect answers 503)."""


class UserLimitReached(LimitReached):
    """The user already holds ``PER_USER_CONNECTION_LIMIT`` connections ($connect answers 429)."""


class DuplicateConnection(DomainError):
    """A row with this connection id already exists ($connect retried by API Gateway)."""
