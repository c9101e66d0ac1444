"""Lambda functions run the way the Lambda platform runs them: one long-lived worker process per
execution environment, started with exactly the function's configured environment plus what the
platform injects, importing the handler from the deployed code package.

The deployed code is found by its ``CodeSha256`` (moto keeps the zip but serves no download URL
for it): the zip under ``build/`` or ``cdktf.out/`` whose hash equals the deployed one is extracted
to ``.local/code/<hash>/``. Dependencies come from the host venv (the stack's layer is aarch64).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsctl.gateway.wiring import FunctionSpec

log = logging.getLogger("wsctl.gateway")

# Runs inside the worker. Kept as source text so the worker's sys.path holds only the code
# directory (cwd) and the interpreter's site-packages, never this repository.
BOOTSTRAP = r'''
import importlib, json, os, sys, time, traceback
sys.path.insert(0, os.getcwd())
handler_spec, reply = sys.argv[1], os.fdopen(int(sys.argv[2]), "w", buffering=1)

class Context:
    def __init__(self, meta):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = meta["invoked_function_arn"]
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = meta["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = meta["deadline"]
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))

def failure(error_type, exc):
    return {"errorType": error_type, "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:]}

try:
    module_name, _, function_name = handler_spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{handler_spec}': not enough values to unpack")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"Unable to import module '{module_name}': {exc}") from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    init_error = None
except ImportError as exc:
    init_error = failure("Runtime.ImportModuleError", exc)
except AttributeError as exc:
    init_error = failure("Runtime.HandlerNotFound", exc)
except Exception as exc:
    init_error = failure("Runtime.UserCodeSyntaxError" if isinstance(exc, SyntaxError) else type(exc).__name__, exc)
if init_error:
    print(json.dumps({"level": "ERROR", "message": "INIT_REPORT Status: error", "errorType": init_error["errorType"],
                      "errorMessage": init_error["errorMessage"]}), file=sys.stderr, flush=True)

for line in sys.stdin:
    request = json.loads(line)
    if init_error:
        reply.write(json.dumps({"error": init_error}) + "\n")
        sys.exit(1)
    started = time.time()
    try:
        result = handler(request["event"], Context(request))
        try:
            payload = json.dumps({"result": result})
        except (TypeError, ValueError) as exc:
            payload = json.dumps({"error": failure("Runtime.MarshalError", exc)})
    except Exception as exc:
        payload = json.dumps({"error": failure(type(exc).__name__, exc)})
    reply.write(payload + "\n")
'''


@dataclass(frozen=True)
class InvocationResult:
    request_id: str
    result: Any = None
    #: The Lambda error object (``errorType``, ``errorMessage``) when the invocation failed.
    error: dict | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class CodeNotFound(RuntimeError):
    pass


def code_sha256(path: Path) -> str:
    """Lambda's CodeSha256: base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


class CodeStore:
    """Finds and extracts the zip whose hash is a function's deployed CodeSha256."""

    def __init__(self, search_dirs: list[Path], cache_dir: Path):
        self.search_dirs, self.cache_dir = search_dirs, cache_dir
        self._by_hash: dict[str, Path] = {}

    def _scan(self) -> None:
        for directory in self.search_dirs:
            if directory.is_dir():
                for path in directory.rglob("*.zip"):
                    with contextlib.suppress(OSError):
                        self._by_hash.setdefault(code_sha256(path), path)

    def directory_for(self, sha: str) -> Path:
        target = self.cache_dir / hashlib.sha256(sha.encode()).hexdigest()[:24]
        if (target / ".complete").is_file():
            return target
        if sha not in self._by_hash:
            self._scan()
        if sha not in self._by_hash:
            raise CodeNotFound(f"no zip under {', '.join(str(d) for d in self.search_dirs)} has CodeSha256 {sha}")
        staging = target.with_name(target.name + f".tmp{os.getpid()}")
        with zipfile.ZipFile(self._by_hash[sha]) as archive:
            archive.extractall(staging)
        (staging / ".complete").write_text(sha)
        if target.exists():
            import shutil

            shutil.rmtree(staging)
        else:
            staging.rename(target)
        return target


def platform_environment(spec: FunctionSpec, *, region: str, aws_endpoint: str, code_dir: Path) -> dict[str, str]:
    """What the Lambda platform adds to the configured variables (plus the emulator endpoint)."""
    return {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",  # noqa: S105 - moto's dummy credentials
        "AWS_SESSION_TOKEN": "test",
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python3.12'}",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
        "_HANDLER": spec.handler,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
    }


class Worker:
    """One execution environment: a process that handles one invocation at a time."""

    def __init__(self, spec: FunctionSpec, code_dir: Path, env: dict[str, str], log_path: Path):
        self.spec, self.code_dir, self.env, self.log_path = spec, code_dir, env, log_path
        self.process: asyncio.subprocess.Process | None = None
        self._replies: asyncio.StreamReader | None = None
        self._reply_transport: asyncio.BaseTransport | None = None

    async def start(self) -> None:
        read_fd, write_fd = os.pipe()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            try:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable, "-u", "-c", BOOTSTRAP, self.spec.handler, str(write_fd),
                    cwd=self.code_dir, env=self.env, stdin=asyncio.subprocess.PIPE, stdout=log_file,
                    stderr=log_file, pass_fds=(write_fd,), start_new_session=True)
            finally:
                os.close(write_fd)
        loop = asyncio.get_running_loop()
        self._replies = asyncio.StreamReader(limit=64 * 1024 * 1024, loop=loop)
        self._reply_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(self._replies, loop=loop), os.fdopen(read_fd, "rb", buffering=0))

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def invoke(self, event: dict, request_id: str) -> InvocationResult:
        if not self.alive:
            await self.stop()
            await self.start()
        assert self.process is not None and self.process.stdin is not None and self._replies is not None
        started = time.monotonic()
        deadline = time.time() + self.spec.timeout_seconds
        request = {"event": event, "request_id": request_id, "deadline": deadline,
                   "invoked_function_arn": self.spec.arn}
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            await self.process.stdin.drain()
            line = await asyncio.wait_for(self._replies.readline(), timeout=self.spec.timeout_seconds + 0.5)
        except TimeoutError:
            await self.stop()
            return InvocationResult(request_id, error={
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {self.spec.timeout_seconds:.2f} seconds"},
                duration_ms=(time.monotonic() - started) * 1000)
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        duration = (time.monotonic() - started) * 1000
        if not line:
            await self.stop()
            return InvocationResult(request_id, error={"errorType": "Runtime.ExitError",
                                                       "errorMessage": "RequestId: " + request_id
                                                       + " Error: Runtime exited without providing a reason"},
                                    duration_ms=duration)
        reply = json.loads(line)
        return InvocationResult(request_id, result=reply.get("result"), error=reply.get("error"), duration_ms=duration)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if self._reply_transport is not None:
            self._reply_transport.close()
            self._reply_transport = None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            if process.stdin is not None:
                process.stdin.close()
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=2)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


class FunctionPool:
    """The execution environments of one function configuration (``concurrency`` processes)."""

    def __init__(self, spec: FunctionSpec, code_dir: Path, env: dict[str, str], log_dir: Path, concurrency: int):
        self.spec = spec
        self.workers = [Worker(spec, code_dir, env, log_dir / f"{spec.name}.log") for _ in range(concurrency)]
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        for worker in self.workers:
            self._idle.put_nowait(worker)

    async def start(self) -> None:
        await asyncio.gather(*(w.start() for w in self.workers))

    async def invoke(self, event: dict) -> InvocationResult:
        request_id = str(uuid.uuid4())
        worker = await self._idle.get()
        try:
            result = await worker.invoke(event, request_id)
        finally:
            self._idle.put_nowait(worker)
        if result.error:
            log.warning("%s %s failed: %s: %s", self.spec.name, request_id, result.error.get("errorType"),
                        str(result.error.get("errorMessage"))[:300])
        return result

    async def stop(self) -> None:
        """Let in-flight invocations finish (up to the function timeout), then end the processes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.spec.timeout_seconds + 1):
                for _ in self.workers:
                    await self._idle.get()
        await asyncio.gather(*(w.stop() for w in self.workers))


class BrokenFunction:
    """A function whose code cannot be found: every invocation fails as Lambda would fail it."""

    def __init__(self, spec: FunctionSpec, reason: str):
        self.spec, self.reason = spec, reason

    async def start(self) -> None:
        log.error("%s cannot run: %s", self.spec.name, self.reason)

    async def invoke(self, event: dict) -> InvocationResult:
        return InvocationResult(str(uuid.uuid4()), error={"errorType": "Runtime.ImportModuleError",
                                                           "errorMessage": self.reason})

    async def stop(self) -> None:
        return None
