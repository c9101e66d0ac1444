"""``wsctl local up``: emulator, stack, gateway, ``READY {json}``; Ctrl-C/SIGTERM stops it all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wsctl.errors import WsctlError
from wsctl.local import paths, stack

log = logging.getLogger("wsctl.local")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def choose_port(requested: int | None, preferred: int, what: str, flag: str) -> int:
    """An explicit port must be free; otherwise the env file's port if free, else any free port."""
    if requested is not None:
        if not port_is_free(requested):
            raise WsctlError(f"port {requested} ({what}) is busy: stop what uses it or pass another {flag}")
        return requested
    return preferred if port_is_free(preferred) else free_port()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # an exited process its parent has not reaped yet (a zombie) has stopped
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def running_instance() -> dict[str, Any] | None:
    info = stack.read_json(paths.PID_FILE)
    pid = info.get("pid")
    if isinstance(pid, int) and pid_alive(pid):
        return info
    return None


class Emulator:
    """The moto server child process (see wsctl/local/emulator.py)."""

    def __init__(self, port: int, log_dir: Path = paths.LOG_DIR):
        self.port = port
        #: Where moto.log goes (the benchmark passes its own folder, never the developer's .local/).
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None
        # one command and its answer at a time (the stop sequence and the supervisor both talk to it)
        self._commands = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exit_code(self) -> int | None:
        """None while it runs; its exit status (negative: the signal) once it has died."""
        return None if self.process is None else self.process.poll()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, restore: Path | None = None) -> None:
        self.spawn(restore)
        self.wait_ready()

    def spawn(self, restore: Path | None = None) -> None:
        """Start the process without waiting for it (it can come up while something else runs)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "wsctl.local.emulator", "--port", str(self.port)]
        if restore is not None:
            command += ["--restore", str(restore)]
        with open(self.log_dir / "moto.log", "ab") as log_file:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,  # noqa: S603
                                            text=True, cwd=paths.REPO_ROOT, start_new_session=True)

    def wait_ready(self) -> None:
        reply = self._reply(timeout=60)
        if "ready" not in reply:
            self.stop()
            raise WsctlError(f"the emulator did not start: {reply.get('error', 'no answer')}")

    def _reply(self, timeout: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                return {"error": f"no answer within {timeout:.0f} s"}
        line = self.process.stdout.readline()
        return json.loads(line) if line else {"error": "the emulator exited (see .local/logs/moto.log)"}

    def command(self, line: str, timeout: float) -> dict[str, Any]:
        with self._commands:
            if self.process is None or self.process.stdin is None or self.process.poll() is not None:
                return {"error": "the emulator is not running"}
            try:
                self.process.stdin.write(line + "\n")
                self.process.stdin.flush()
            except OSError as error:
                return {"error": f"the emulator does not listen: {error}"}
            return self._reply(timeout=timeout)

    def snapshot(self, path: Path) -> bool:
        reply = self.command(f"snapshot {path}", timeout=120)
        if "ok" not in reply:
            log.warning("no emulator snapshot (the next start will be cold): %s", reply.get("error"))
        return "ok" in reply

    def refuse_broadcasts(self) -> bool:
        """From now on SendMessage of a new broadcast fails with LocalStackStopping (emulator.py)."""
        return "ok" in self.command("refuse-broadcasts", timeout=10)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin:
                process.stdin.close()
        # Whatever is kept was snapshotted before this (a snapshot file is renamed into place whole),
        # so there is nothing to wait for: SIGTERM ends it at once instead of moto's ~1 s shutdown.
        with contextlib.suppress(OSError):
            process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def local_defaults() -> tuple[int, int]:
    from stacks.config import load_env

    cfg = load_env("local", overrides={})
    assert cfg.emulator is not None  # noqa: S101 - the local env always has an emulator section
    return urlsplit(cfg.emulator.aws_endpoint).port or 4566, urlsplit(cfg.emulator.gateway_url).port or 3001


def endpoints_document(outputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "ws_url": outputs["websocket_url"],
        "connections_url": f"{outputs['connections_endpoint']}/@connections",
        "region": outputs["region"],
        "user_pool_id": outputs["user_pool_id"],
        "client_id": outputs["user_pool_client_id"],
        "jwks_url": outputs["jwks_url"],
        "aws_endpoint": outputs["aws_endpoint"],
    }


def public_prefix() -> str:
    """The browser-visible prefix the Vercel stacks use (all deployed envs share it)."""
    from stacks.config import load_env

    cfg = load_env("dev", overrides={})
    return cfg.vercel.public_prefix if cfg.vercel else "NEXT_PUBLIC_"


def write_env_file(outputs: dict[str, Any]) -> None:
    values = {
        "WEBSOCKET_API_ENDPOINT": outputs["websocket_url"],
        f"{public_prefix()}WEBSOCKET_API_ENDPOINT": outputs["websocket_url"],
        "WEBSOCKET_REGION": outputs["region"],
        "WEBSOCKET_BROADCAST_QUEUE_URL": outputs["broadcast_queue_url"],
        # No role to assume locally: the emulator accepts its fixed dummy keys.
        "AWS_ROLE_ARN": "",
        "AWS_ENDPOINT_URL": outputs["aws_endpoint"],
        "AWS_REGION": outputs["region"],
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    lines = ["# Written by `wsctl local up` (make local): the Vercel variables, pointing at the local stack.",
             "# Regenerated on every start; do not edit."]
    lines += [f"{key}={value}" for key, value in values.items()]
    temporary = paths.ENV_FILE.with_name(".env.local.tmp")
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, paths.ENV_FILE)


def forget_deployment(state: Path) -> None:
    """Cold: a fresh emulator knows nothing, so the old state and snapshot describe nothing."""
    for stale in (paths.SNAPSHOT_FILE, state, state.with_name(state.name + ".backup")):
        stale.unlink(missing_ok=True)


def local_dashboard(port: int, outputs: dict[str, Any]) -> Any:
    from wsctl.local.dashboard import Dashboard
    from wsctl.targets import Target

    target = Target(env="local", region=outputs["region"], outputs=outputs, aws_endpoint=outputs["aws_endpoint"])
    return Dashboard(port, target, outputs["websocket_url"])


def prepare(args: Any, phases: stack.Phases) -> tuple[Emulator, dict[str, Any], str]:
    """Emulator + deployed stack: (emulator, outputs, how) with how ``warm`` (snapshot, nothing
    changed), ``incremental`` (snapshot + apply of the changes) or ``cold`` (empty emulator)."""
    default_aws, default_gateway = local_defaults()
    meta = stack.read_json(paths.SNAPSHOT_META)
    # The env file's ports when free (predictable for the web app), else free ones; a snapshot is only
    # reused on the ports it was made for, so pinning --port/--aws-port keeps other setups warm too.
    aws_port = choose_port(args.aws_port, default_aws, "emulator", "--aws-port")
    gateway_port = choose_port(args.port, default_gateway, "gateway", "--port")
    if gateway_port == aws_port:
        raise WsctlError("--port and --aws-port must differ")
    endpoints = {"REALTIME_LOCAL_AWS_ENDPOINT": f"http://127.0.0.1:{aws_port}",
                 "REALTIME_LOCAL_GATEWAY_URL": f"http://127.0.0.1:{gateway_port}"}

    state = stack.state_file()
    snapshot_usable = (not getattr(args, "fresh", False) and paths.SNAPSHOT_FILE.is_file()
                       and meta.get("state") == stack.file_hash(state) and meta.get("moto") == stack.moto_version()
                       and meta.get("aws_port") == aws_port and meta.get("gateway_port") == gateway_port
                       and isinstance(meta.get("outputs"), dict))
    if not snapshot_usable:
        forget_deployment(state)
    # The emulator comes up (or restores its snapshot) while synthesis runs: neither needs the other.
    emulator = Emulator(aws_port)
    emulator.spawn(restore=paths.SNAPSHOT_FILE if snapshot_usable else None)
    try:
        inputs = stack.inputs_fingerprint(endpoints)
        synth_meta = stack.read_json(paths.SYNTH_META)
        deployed = stack.deployed_fingerprint()
        if synth_meta.get("inputs") != inputs or deployed is None or synth_meta.get("deployed") != deployed:
            log.info("synthesizing %s", paths.STACK_NAME)
            deployed = stack.synthesize(endpoints)
            stack.write_json(paths.SYNTH_META, {"inputs": inputs, "deployed": deployed})
            phases.mark("synth")
    except BaseException:
        emulator.stop()
        raise
    restored = False
    if snapshot_usable:
        # The snapshot and the terraform state were saved together, so together they describe the
        # emulator exactly; terraform then only applies what changed since (often nothing).
        try:
            emulator.wait_ready()
            phases.mark("emulator-restore")
            restored = True
        except WsctlError as error:
            log.warning("snapshot not restorable (%s): cold start", error)
            forget_deployment(state)
            emulator.start()
            phases.mark("emulator")
    else:
        emulator.wait_ready()
        phases.mark("emulator")
    if restored and meta.get("deployed") == deployed:
        return emulator, meta["outputs"], "warm"
    # The restored snapshot holds the developer's data (users, notification log, queue): if applying the
    # changes fails, the state as it was goes back beside it, so the next start restores both again.
    kept_state = state.read_bytes() if restored and state.is_file() else None
    paths.SNAPSHOT_META.unlink(missing_ok=True)
    try:
        log.info("terraform apply of %s (%s)", paths.STACK_NAME,
                 "changes since the snapshot" if restored else "everything, into an empty emulator")
        outputs = stack.apply(endpoints, refresh=not restored, report=lambda line: log.info("%s", line))
        phases.mark("terraform")
        if emulator.snapshot(paths.SNAPSHOT_FILE):
            stack.write_json(paths.SNAPSHOT_META, {
                "deployed": deployed, "state": stack.file_hash(state), "moto": stack.moto_version(),
                "aws_port": aws_port, "gateway_port": gateway_port, "outputs": outputs})
        phases.mark("snapshot")
    except BaseException:
        emulator.stop()
        if kept_state is not None and not paths.SNAPSHOT_META.is_file():
            keep_snapshot_pair(state, kept_state, meta)
        raise
    return emulator, outputs, "incremental" if restored else "cold"


def keep_snapshot_pair(state: Path, state_bytes: bytes, meta: dict[str, Any]) -> None:
    """Put back the terraform state the snapshot was saved with, and its meta: a consistent pair."""
    temporary = state.with_name(state.name + ".kept")
    temporary.write_bytes(state_bytes)
    os.replace(temporary, state)
    stack.write_json(paths.SNAPSHOT_META, meta)
    log.warning("the apply did not finish: the saved emulator and its terraform state are kept, "
                "the next start restores them and applies the changes again")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def up(args: Any) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    # websockets logs request paths at DEBUG; the query string carries the token: keep it quiet.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    # `wsctl local down` (SIGTERM) during synthesis/apply unwinds like Ctrl-C: children stopped, pid file removed.
    signal.signal(signal.SIGTERM, _interrupt)
    other = running_instance()
    if other is not None:
        raise WsctlError(f"the local stack is already running (pid {other['pid']}): `wsctl local down` first")
    paths.LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    stack.write_json(paths.PID_FILE, {"pid": os.getpid(), "state": "starting"})
    phases = stack.Phases()
    emulator = None
    try:
        from wsctl.local.dashboard import choose_dashboard_port, require_built

        require_built()  # before minutes of terraform, not after
        dashboard_port = choose_dashboard_port(getattr(args, "dashboard_port", None))
        emulator, outputs, how = prepare(args, phases)
        stack.write_json(paths.OUTPUTS_FILE, outputs)
        write_env_file(outputs)
        endpoints = endpoints_document(outputs)
        dashboard = local_dashboard(dashboard_port, outputs)
        endpoints["dashboard_url"] = dashboard.url
        return asyncio.run(_serve(outputs, endpoints, phases, how, dashboard, emulator))
    except KeyboardInterrupt:
        return 130
    finally:
        if emulator is not None:
            emulator.stop()
        for path in (paths.PID_FILE, paths.ENDPOINTS_FILE):
            path.unlink(missing_ok=True)


async def _serve(outputs: dict[str, Any], endpoints: dict[str, Any], phases: stack.Phases, how: str,
                 dashboard: Any, emulator: Emulator) -> int:
    from wsctl.local import lifecycle

    gateway = _gateway(outputs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The dashboard listens before the gateway is announced, so READY means both answer.
    dashboard.start()
    try:
        await open_gateway(gateway, endpoints, phases, how, emulator)
    except BaseException:
        dashboard.stop()
        raise
    supervisor = lifecycle.Supervisor(emulator, gateway, stop,
                                      on_restored=lambda: _write_pid_file(gateway.settings.port, emulator.port, emulator))
    supervising = loop.create_task(supervisor.run())

    def supervisor_ended(task: asyncio.Task) -> None:
        # an unsupervised stack is the half-alive state this exists to prevent: stop as a whole
        if not task.cancelled() and task.exception() is not None:
            supervisor.failure = supervisor.failure or f"the emulator supervisor failed: {task.exception()!r}"
            log.error("%s: stopping the local stack", supervisor.failure)
            stop.set()

    supervising.add_done_callback(supervisor_ended)
    await stop.wait()
    await asyncio.wait([supervising])  # it returns at its next look, or once a restore under way has finished
    sqs = gateway.session.client("sqs", endpoint_url=outputs["aws_endpoint"])
    await lifecycle.stop_in_order(emulator, gateway, dashboard, sqs, outputs["broadcast_queue_url"])
    if supervisor.failure is not None:
        raise WsctlError(supervisor.failure)
    return 0


def _write_pid_file(port: int, aws_port: int | None, emulator: Emulator | None) -> None:
    """``emulator_pid`` names the moto process the supervisor watches (rewritten when it is restored)."""
    stack.write_json(paths.PID_FILE, {"pid": os.getpid(), "state": "ready", "port": port, "aws_port": aws_port,
                                      "emulator_pid": emulator.pid if emulator is not None else None})


def _gateway(outputs: dict[str, Any]) -> Any:
    import boto3

    from wsctl.gateway.server import Gateway, GatewaySettings
    from wsctl.gateway.wiring import read_wiring
    from wsctl.gateway.workers import CodeStore
    from wsctl.targets import LOCAL_CREDENTIALS

    session = boto3.session.Session(region_name=outputs["region"], **LOCAL_CREDENTIALS)
    aws_endpoint = outputs["aws_endpoint"]
    port = urlsplit(outputs["connections_endpoint"]).port
    assert port is not None  # noqa: S101 - the stack writes http://127.0.0.1:<port>/<stage>
    return Gateway(
        settings=GatewaySettings.from_env(port),
        read_wiring=lambda: read_wiring(session, aws_endpoint, api_id=outputs["api_id"],
                                        stage_name=outputs["stage_name"]),
        session=session, aws_endpoint=aws_endpoint,
        code_store=CodeStore([paths.STACK_DIR / "assets", paths.REPO_ROOT / "build" / "lambda"], paths.CODE_CACHE),
        log_dir=paths.LOG_DIR)


async def open_gateway(gateway: Any, endpoints: dict[str, Any], phases: stack.Phases, how: str,
                       emulator: Emulator | None = None) -> None:
    """Start the gateway, then announce it: ``.local/endpoints.json`` (atomically: a temporary file
    renamed into place), the pid file's ``ready`` and ``READY {json}``. Only once the gateway listens,
    so a tool that waits for the file or the line never connects before it can."""
    port = gateway.settings.port
    try:
        await gateway.start()
    except OSError as error:
        await gateway.stop()
        raise WsctlError(f"the gateway cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
    phases.mark("gateway")
    stack.write_json(paths.ENDPOINTS_FILE, endpoints)
    _write_pid_file(port, urlsplit(endpoints["aws_endpoint"]).port, emulator)
    log.info("%s start in %.1f s (%s)", how, phases.total,
             ", ".join(f"{k} {v:.1f} s" for k, v in phases.marks.items()))
    print("READY " + json.dumps(endpoints), flush=True)


def down(args: Any) -> int:
    info = running_instance()
    if info is None:
        paths.PID_FILE.unlink(missing_ok=True)
        raise WsctlError("nothing running: no `wsctl local up` found")
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not pid_alive(info["pid"]):
            print(f"stopped the local stack (pid {info['pid']})")
            return 0
        time.sleep(0.1)
    raise WsctlError(f"pid {info['pid']} did not stop within {args.timeout:.0f} s")
