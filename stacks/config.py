"""Typed, frozen, validated environment configuration loaded from ``environments/<env>.toml``.

A wrong or missing value fails at load time with ``ConfigError`` naming the file, the dotted key
and what was expected, e.g.::

    environments/dev.toml: connections.per_user_limit: expected an integer >= 1, got 0

Only the ``local`` environment may carry an ``[emulator]`` section; its endpoints can be overridden
at deploy time by ``REALTIME_LOCAL_AWS_ENDPOINT`` and ``REALTIME_LOCAL_GATEWAY_URL`` (``wsctl local
up --aws-port/--port`` sets them), because moto's port is only known when it starts.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

ENVIRONMENTS_DIR = Path(__file__).resolve().parent.parent / "environments"
ENVIRONMENT_NAMES = ("dev", "staging", "prod", "local")
PROJECT = "realtime"

AWS_REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
ORIGIN_RE = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?$")
VERCEL_TARGETS = ("production", "preview", "development")
ENV_VAR_PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9_]*_$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
# API Gateway rejects WebSocket frames above 128 KiB; nothing may configure more.
API_GATEWAY_MAX_MESSAGE_BYTES = 131072
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)


class ConfigError(ValueError):
    """A bad environment file: the message names the file, the key and what was expected."""


@dataclass(frozen=True)
class StateBackend:
    """Where terraform keeps this environment's state."""

    backend: Literal["s3", "local"]
    #: S3 bucket (s3 backend); locking uses S3's native lockfile (``use_lockfile``), no DynamoDB.
    bucket: str | None = None
    #: Object key of the state file (s3 backend).
    key: str | None = None
    #: Region of the state bucket (s3 backend).
    region: str | None = None
    #: Repo-relative path of the state file (local backend).
    path: str | None = None


@dataclass(frozen=True)
class CognitoConfig:
    """Who may connect: the Cognito user pool whose JWTs the authorizer accepts."""

    #: Which token the web app sends: ``id`` (checks ``aud``) or ``access`` (checks ``client_id``).
    token_use: Literal["id", "access"]
    #: Exact ``iss`` claim, ``https://cognito-idp.<region>.amazonaws.com/<pool id>``.
    issuer: str | None = None
    #: Where the signing keys are fetched (separate from the issuer so an emulator can serve them).
    jwks_url: str | None = None
    #: App client ids whose tokens are accepted.
    client_ids: tuple[str, ...] = ()
    #: ``local`` only: the stack declares its own user pool and app client in the emulator.
    local_user_pool: bool = False


@dataclass(frozen=True)
class OriginsConfig:
    """Which browser pages may open a connection (checked by the authorizer)."""

    #: Exact ``scheme://host[:port]`` origins.
    allowed: tuple[str, ...]
    #: Whether a handshake without an ``Origin`` header (non-browser clients) is accepted.
    allow_missing: bool


@dataclass(frozen=True)
class ConnectionsConfig:
    """Capacity limits enforced at ``$connect``."""

    #: Global connection limit (atomic counter); at the limit ``$connect`` answers 503.
    global_limit: int
    #: Open connections one user may hold (multi-tab abuse); above it ``$connect`` answers 429.
    per_user_limit: int
    #: Longest accepted token lifetime (``exp - iat``), seconds.
    max_token_age_seconds: int


@dataclass(frozen=True)
class MessagesConfig:
    """Client message limits on the ``$default`` route."""

    #: Largest accepted client message; API Gateway's own limit is 128 KiB.
    max_bytes: int
    #: Messages one connection may send per minute before it gets ``RATE_LIMITED``.
    rate_limit_per_minute: int
    #: Rate-limited minutes after which the connection is closed.
    max_rate_violations: int


@dataclass(frozen=True)
class BroadcastConfig:
    """Fan-out of broadcast requests from SQS to the @connections API."""

    #: Concurrent @connections posts in one invocation.
    concurrency: int
    #: Parallel-scan segment jobs a global broadcast is split into.
    scan_segments: int
    #: Minimum seconds between two global ``system.announcement`` broadcasts.
    announcement_interval_seconds: int


@dataclass(frozen=True)
class NotificationsConfig:
    """The notification log that lets a reconnecting client resume (ADR 0016)."""

    #: How long a notification can be replayed (the log table's TTL); a resume from an older cursor
    #: answers ``recovered: false``.
    retention_hours: int
    #: Most notifications one ``resume`` replays per stream; a longer gap answers ``recovered: false``.
    replay_limit: int
    #: Log items all of one user's resumes may read per window (ADR 0018); past it ``reason: budget``.
    read_budget_items: int
    #: The fixed window of that budget, in seconds.
    read_budget_window_seconds: int


@dataclass(frozen=True)
class LogsConfig:
    #: CloudWatch Logs retention for every log group of the stack.
    retention_days: int


@dataclass(frozen=True)
class ThrottlingConfig:
    """Default route throttling of the WebSocket stage."""

    rate_limit: float
    burst_limit: int


@dataclass(frozen=True)
class AlarmsConfig:
    """Thresholds and the notification endpoint of the CloudWatch alarms."""

    #: Active connections alarm, in percent of ``connections.global_limit``.
    connections_utilization_percent: int
    #: Authorizer denials in 5 minutes that count as a spike.
    authorizer_denials_per_5min: int
    #: API Gateway integration/execution errors in 5 minutes.
    api_errors_per_5min: int
    #: Failed @connections deliveries (other than Gone) in 5 minutes.
    delivery_failures_per_5min: int
    #: Resumes answered ``recovered: false`` in 5 minutes (clients falling back to a full refetch).
    resumes_not_recovered_per_5min: int
    #: E-mail subscribed to the alarm topic.
    notification_email: str


@dataclass(frozen=True)
class VercelConfig:
    """The Vercel project whose environment variables point the web app at this stack."""

    team_id: str
    #: Team slug, part of the OIDC issuer ``https://oidc.vercel.com/<team_slug>``.
    team_slug: str
    #: Project id ``prj_…``: what the environment-variable resources attach to.
    project_id: str
    #: Project name: Vercel's OIDC ``sub`` claim carries the team slug and the project *name*
    #: (``owner:<team_slug>:project:<project_name>:environment:<target>``), so the role trusts it.
    project_name: str
    #: Vercel targets (``production``/``preview``/``development``) this environment feeds. Each
    #: target of a project belongs to exactly one environment (ADR 0001, checked by ``load_all``):
    #: its deployments read this environment's variables and assume this environment's role.
    targets: tuple[str, ...]
    #: Prefix that makes a variable browser-visible, e.g. ``NEXT_PUBLIC_``.
    public_prefix: str

    @property
    def variable_keys(self) -> tuple[str, ...]:
        """The keys ``realtime-vercel-<env>`` writes to each target (docs/contracts.md)."""
        return ("WEBSOCKET_API_ENDPOINT", f"{self.public_prefix}WEBSOCKET_API_ENDPOINT", "WEBSOCKET_REGION",
                "WEBSOCKET_BROADCAST_QUEUE_URL", "AWS_ROLE_ARN")

    @property
    def subjects(self) -> tuple[str, ...]:
        """The OIDC ``sub`` of this project's deployments in each target: what the role trusts."""
        return tuple(f"owner:{self.team_slug}:project:{self.project_name}:environment:{target}"
                     for target in self.targets)


@dataclass(frozen=True)
class EmulatorConfig:
    """``local`` only: the embedded AWS (moto server) and the local WebSocket gateway."""

    #: Endpoint every AWS provider endpoint (and the local Lambda runner) points at.
    aws_endpoint: str
    #: Base URL of the local gateway; ``ws_url`` and the @connections endpoint derive from it.
    gateway_url: str


@dataclass(frozen=True)
class EnvConfig:
    """One environment, everything its stacks need."""

    name: str
    region: str
    state: StateBackend
    cognito: CognitoConfig
    origins: OriginsConfig
    connections: ConnectionsConfig
    messages: MessagesConfig
    broadcast: BroadcastConfig
    notifications: NotificationsConfig
    logs: LogsConfig
    throttling: ThrottlingConfig
    alarms: AlarmsConfig
    account_id: str | None = None
    vercel: VercelConfig | None = None
    emulator: EmulatorConfig | None = None
    source: str = field(default="", compare=False)

    @property
    def targets_emulator(self) -> bool:
        """True when the stack is applied to moto: the emulator workarounds apply only then."""
        return self.emulator is not None

    def resource_name(self, component: str) -> str:
        """AWS names follow ``{project}-{env}-{component}``."""
        return f"{PROJECT}-{self.name}-{component}"

    @property
    def stack_name(self) -> str:
        return f"{PROJECT}-{self.name}"

    @property
    def stage_name(self) -> str:
        return self.name


class _Reader:
    """Walks one TOML table, recording the dotted path so every error names its key."""

    def __init__(self, source: str, data: Mapping[str, Any], prefix: str = ""):
        self.source, self.data, self.prefix = source, data, prefix
        self.seen: set[str] = set()

    def fail(self, key: str, expected: str, got: Any = None, *, missing: bool = False) -> ConfigError:
        where = f"{self.prefix}{key}"
        detail = "missing" if missing else f"got {got!r}"
        return ConfigError(f"{self.source}: {where}: expected {expected}, {detail}")

    def table(self, key: str, required: bool = True) -> _Reader | None:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise self.fail(key, "a table", missing=True)
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            raise self.fail(key, "a table", value)
        return _Reader(self.source, value, f"{self.prefix}{key}.")

    def value(self, key: str, expected: str, check: Callable[[Any], bool], default: Any = ..., ) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(key, expected, missing=True)
            return default
        value = self.data[key]
        if not check(value):
            raise self.fail(key, expected, value)
        return value

    def string(self, key: str, expected: str = "a non-empty string", pattern: re.Pattern | None = None,
               default: Any = ...) -> str:
        return self.value(key, expected, lambda v: isinstance(v, str) and v != ""
                          and (pattern is None or bool(pattern.match(v))), default)

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        return self.value(key, "one of " + ", ".join(repr(o) for o in options), lambda v: v in options, default)

    def integer(self, key: str, minimum: int, maximum: int | None = None) -> int:
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        return self.value(key, f"an integer {bound}", lambda v: isinstance(v, int) and not isinstance(v, bool)
                          and v >= minimum and (maximum is None or v <= maximum))

    def number(self, key: str, minimum: float) -> float:
        return float(self.value(key, f"a number >= {minimum}", lambda v: isinstance(v, int | float)
                                and not isinstance(v, bool) and v >= minimum))

    def boolean(self, key: str, default: Any = ...) -> bool:
        return self.value(key, "true or false", lambda v: isinstance(v, bool), default)

    def strings(self, key: str, expected: str, item: Callable[[str], bool], default: Any = ...) -> tuple[str, ...]:
        value = self.value(key, f"a non-empty list of {expected}",
                           lambda v: isinstance(v, list) and len(v) > 0
                           and all(isinstance(i, str) and item(i) for i in v), default)
        return tuple(value)

    def distinct_strings(self, key: str, expected: str, item: Callable[[str], bool]) -> tuple[str, ...]:
        values = self.strings(key, expected, item)
        if len(set(values)) != len(values):
            raise self.fail(key, f"a list of distinct {expected}", list(values))
        return values

    def url(self, key: str, schemes: tuple[str, ...] = ("https",)) -> str:
        expected = "a URL with scheme " + " or ".join(schemes)
        return self.value(key, expected, lambda v: isinstance(v, str) and urlsplit(v).scheme in schemes
                          and bool(urlsplit(v).netloc))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(f"{self.source}: {self.prefix}{unknown[0]}: unknown key (expected one of "
                              f"{', '.join(sorted(self.seen))})")


def load_env(name: str, *, directory: Path = ENVIRONMENTS_DIR, overrides: Mapping[str, str] | None = None,
             ) -> EnvConfig:
    """Load and validate ``<directory>/<name>.toml``.

    ``overrides`` defaults to ``os.environ``; only the ``REALTIME_LOCAL_*`` emulator endpoints are read.
    """
    path = directory / f"{name}.toml"
    try:
        source = str(path.relative_to(directory.parent))
    except ValueError:
        source = str(path)
    if not path.is_file():
        raise ConfigError(f"{source}: file not found (environments are {', '.join(ENVIRONMENT_NAMES)})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from error
    return parse_env(data, source=source, file_name=name,
                     overrides=os.environ if overrides is None else overrides)


def parse_env(data: Mapping[str, Any], *, source: str, file_name: str, overrides: Mapping[str, str]) -> EnvConfig:
    root = _Reader(source, data)
    name = root.value("name", f"{file_name!r} (the file's name)", lambda v: v == file_name)
    region = root.string("region", "an AWS region like 'eu-west-1'", AWS_REGION_RE)
    emulator_table = root.table("emulator", required=False)
    targets_emulator = emulator_table is not None
    account_id = root.string("account_id", "a 12-digit AWS account id", ACCOUNT_ID_RE,
                             default=None if targets_emulator else ...)

    state_r = root.table("state")
    backend = state_r.choice("backend", ("local",) if targets_emulator else ("s3",))
    if backend == "s3":
        state = StateBackend(backend="s3", bucket=state_r.string("bucket"), key=state_r.string("key"),
                             region=state_r.string("region", "an AWS region like 'eu-west-1'", AWS_REGION_RE))
    else:
        state = StateBackend(backend="local", path=state_r.string("path", "a repo-relative path under .local/",
                                                                    re.compile(r"^\.local/[\w./-]+$")))
    state_r.done()

    cog_r = root.table("cognito")
    token_use = cog_r.choice("token_use", ("id", "access"))
    local_pool = cog_r.boolean("local_user_pool", default=False)
    if local_pool and not targets_emulator:
        raise cog_r.fail("local_user_pool", "false outside the emulator environment", True)
    if local_pool:
        cognito = CognitoConfig(token_use=token_use, local_user_pool=True)
    else:
        issuer = cog_r.string("issuer", "'https://cognito-idp.<region>.amazonaws.com/<pool id>'",
                              re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[\w-]+$"))
        cognito = CognitoConfig(token_use=token_use, issuer=issuer, jwks_url=cog_r.url("jwks_url"),
                                client_ids=cog_r.strings("client_ids", "app client ids",
                                                         lambda s: re.fullmatch(r"[\w-]{1,128}", s) is not None))
    cog_r.done()

    org_r = root.table("origins")
    origins = OriginsConfig(
        allowed=org_r.strings("allowed", "origins 'scheme://host[:port]' (no path, no trailing slash)",
                              lambda s: ORIGIN_RE.match(s) is not None),
        allow_missing=org_r.boolean("allow_missing"))
    org_r.done()

    con_r = root.table("connections")
    connections = ConnectionsConfig(global_limit=con_r.integer("global_limit", 1),
                                    per_user_limit=con_r.integer("per_user_limit", 1),
                                    max_token_age_seconds=con_r.integer("max_token_age_seconds", 60))
    con_r.done()

    msg_r = root.table("messages")
    messages = MessagesConfig(max_bytes=msg_r.integer("max_bytes", 1024, API_GATEWAY_MAX_MESSAGE_BYTES),
                              rate_limit_per_minute=msg_r.integer("rate_limit_per_minute", 1),
                              max_rate_violations=msg_r.integer("max_rate_violations", 1))
    msg_r.done()

    bc_r = root.table("broadcast")
    broadcast = BroadcastConfig(concurrency=bc_r.integer("concurrency", 1, 512),
                                scan_segments=bc_r.integer("scan_segments", 1, 1000),
                                announcement_interval_seconds=bc_r.integer("announcement_interval_seconds", 0))
    bc_r.done()

    ntf_r = root.table("notifications")
    notifications = NotificationsConfig(retention_hours=ntf_r.integer("retention_hours", 1, 24 * 30),
                                        replay_limit=ntf_r.integer("replay_limit", 1, 1000),
                                        read_budget_items=ntf_r.integer("read_budget_items", 1, 1_000_000),
                                        read_budget_window_seconds=ntf_r.integer("read_budget_window_seconds", 60,
                                                                                 86400))
    ntf_r.done()

    logs_r = root.table("logs")
    logs = LogsConfig(retention_days=logs_r.value(
        "retention_days", "a CloudWatch retention (one of " + ", ".join(map(str, CLOUDWATCH_RETENTION_DAYS)) + ")",
        lambda v: v in CLOUDWATCH_RETENTION_DAYS and not isinstance(v, bool)))
    logs_r.done()

    thr_r = root.table("throttling")
    throttling = ThrottlingConfig(rate_limit=thr_r.number("rate_limit", 1), burst_limit=thr_r.integer("burst_limit", 1))
    thr_r.done()

    al_r = root.table("alarms")
    alarms = AlarmsConfig(
        connections_utilization_percent=al_r.integer("connections_utilization_percent", 1, 100),
        authorizer_denials_per_5min=al_r.integer("authorizer_denials_per_5min", 1),
        api_errors_per_5min=al_r.integer("api_errors_per_5min", 1),
        delivery_failures_per_5min=al_r.integer("delivery_failures_per_5min", 1),
        resumes_not_recovered_per_5min=al_r.integer("resumes_not_recovered_per_5min", 1),
        notification_email=al_r.string("notification_email", "an e-mail address", EMAIL_RE))
    al_r.done()

    vercel = None
    vc_r = root.table("vercel", required=not targets_emulator)
    if vc_r is not None:
        if targets_emulator:
            raise root.fail("vercel", "no [vercel] table in the emulator environment", "a table")
        vercel = VercelConfig(
            team_id=vc_r.string("team_id", "a Vercel team id 'team_…'", re.compile(r"^team_\w+$")),
            team_slug=vc_r.string("team_slug", "a Vercel team slug", re.compile(r"^[a-z0-9][a-z0-9-]*$")),
            project_id=vc_r.string("project_id", "a Vercel project id 'prj_…'", re.compile(r"^prj_\w+$")),
            project_name=vc_r.string("project_name", "a Vercel project name (lower-case, digits, '.', '_', '-')",
                                     re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")),
            targets=vc_r.distinct_strings("targets", "Vercel targets (" + ", ".join(VERCEL_TARGETS) + ")",
                                          lambda s: s in VERCEL_TARGETS),
            public_prefix=vc_r.string("public_prefix", "an upper-case prefix ending in '_'", ENV_VAR_PREFIX_RE))
        vc_r.done()

    emulator = None
    if emulator_table is not None:
        loopback = ("http",)
        aws_endpoint = overrides.get("REALTIME_LOCAL_AWS_ENDPOINT") or emulator_table.url("aws_endpoint", loopback)
        gateway_url = overrides.get("REALTIME_LOCAL_GATEWAY_URL") or emulator_table.url("gateway_url", loopback)
        emulator_table.seen.update({"aws_endpoint", "gateway_url"})
        for key, value in (("aws_endpoint", aws_endpoint), ("gateway_url", gateway_url)):
            if urlsplit(value).hostname != "127.0.0.1":
                raise emulator_table.fail(key, "an http://127.0.0.1:<port> URL (the emulator is loopback-only)", value)
        emulator = EmulatorConfig(aws_endpoint=aws_endpoint.rstrip("/"), gateway_url=gateway_url.rstrip("/"))
        emulator_table.done()
    root.done()

    return EnvConfig(name=name, region=region, account_id=account_id, state=state, cognito=cognito,
                     origins=origins, connections=connections, messages=messages, broadcast=broadcast,
                     notifications=notifications, logs=logs, throttling=throttling, alarms=alarms, vercel=vercel, emulator=emulator,
                     source=source)


def load_all(directory: Path = ENVIRONMENTS_DIR) -> dict[str, EnvConfig]:
    """Every environment, in the order dev, staging, prod, local, checked against each other."""
    configs = {name: load_env(name, directory=directory) for name in ENVIRONMENT_NAMES}
    check_vercel_ownership(configs.values())
    return configs


def check_vercel_ownership(configs: Iterable[EnvConfig]) -> None:
    """ADR 0001: every Vercel variable (project, key, target, git branch) is written by one
    environment, and every Vercel OIDC ``sub`` is trusted by one environment's role.

    A second writer of a variable fails at apply time (the provider refuses the same key for an
    overlapping target and git branch; Vercel answers ENV_CONFLICT), and a deployment could read
    only one of them anyway; a ``sub`` trusted twice lets those deployments assume both roles. No
    variable sets ``git_branch`` (the ``sub`` carries no branch, so a branch could not get a role of
    its own): each covers every branch of its target.
    """
    writers: dict[tuple[str, str, str], EnvConfig] = {}  # (project id, key, target) -> writer
    trusted: dict[str, EnvConfig] = {}  # sub -> the environment whose role trusts it
    for cfg in configs:
        if cfg.vercel is None:
            continue
        project = cfg.vercel.project_id
        for target in cfg.vercel.targets:
            shared = [key for key in cfg.vercel.variable_keys if (project, key, target) in writers]
            if shared:
                other = writers[(project, shared[0], target)]
                raise ConfigError(
                    f"{other.source} and {cfg.source}: vercel.targets: both write {', '.join(shared)} to "
                    f"target {target!r} (every git branch) of project {project}; each target of a project "
                    f"belongs to one environment (ADR 0001)")
            writers.update({(project, key, target): cfg for key in cfg.vercel.variable_keys})
        for subject in cfg.vercel.subjects:
            if subject in trusted:
                raise ConfigError(
                    f"{trusted[subject].source} and {cfg.source}: vercel.targets: both roles would trust "
                    f"sub {subject!r}; each Vercel OIDC subject is trusted by one environment (ADR 0001)")
            trusted[subject] = cfg
