"""One clear message for each situation a user can hit, instead of a traceback."""

import re


class WorkbookError(Exception):
    """An error with a message meant for the user, and optionally the output that explains it."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message}\n{self.detail}".rstrip()


_DAEMON_DOWN = re.compile(r"Cannot connect to the Docker daemon|Is the docker daemon running|"
                          r"error during connect|docker.sock: connect")
_PORT_TAKEN = re.compile(r"(address already in use|port is already allocated)")
_DISK_FULL = re.compile(r"no space left on device", re.IGNORECASE)
_PERMISSION = re.compile(r"permission denied while trying to connect to the Docker daemon")
# BuildKit's plain progress reports a failing step as '#N [stage k/n] RUN ...' followed by its output
# and 'ERROR: failed to solve: process "..." did not complete successfully: exit code: N'.
_FAILED_STEP = re.compile(r"^ERROR: (failed to solve|failed to build).*$", re.MULTILINE)


# Subcommands of `docker compose` and `docker buildx`, to name a failed command without its options.
_SUBCOMMANDS = {"up", "down", "build", "ps", "port", "logs", "exec", "run", "stop", "start", "config",
                "images", "pull", "create", "rm", "restart", "kill", "version"}


def command_name(args: list[str]) -> str:
    """'docker compose up' for ['compose', '--project-name', 'x', 'up', '--wait'], and the like."""
    words = args[:1]
    if args and args[0] in ("compose", "buildx"):
        words += [next((a for a in args[1:] if a in _SUBCOMMANDS), "")]
    elif len(args) > 1 and not args[1].startswith("-"):
        words.append(args[1])
    return " ".join(["docker", *filter(None, words)])


def explain(args: list[str], stderr: str, stdout: str = "") -> WorkbookError:
    """Turn a failed docker command into the one message that names its cause."""
    text = f"{stdout}\n{stderr}"
    command = command_name(args)
    if _PERMISSION.search(text):
        return WorkbookError("this user may not use the Docker daemon: run as root or add the user "
                             "to the 'docker' group")
    if _DAEMON_DOWN.search(text):
        return WorkbookError("the Docker daemon is not running: start it (make engine, or "
                             "'sudo dockerd &', or start Docker Desktop) and try again")
    if _DISK_FULL.search(text):
        return WorkbookError(f"{command} failed: the disk is full. Free space, for example with "
                             "'docker system prune' or 'docker builder prune', and try again",
                             tail(text))
    port = _PORT_TAKEN.search(text)
    if port:
        bound = re.search(r"(127\.0\.0\.1|0\.0\.0\.0|\[::\]):(\d+)", text)
        where = f" ({bound.group(0)})" if bound else ""
        return WorkbookError(f"{command} failed: a port it publishes is already in use{where}. "
                             "Stop what uses it or choose another port", tail(text, 3))
    if args and args[0] in ("build", "buildx", "compose") and _FAILED_STEP.search(text):
        return WorkbookError(f"{command} failed at this step:", failing_step(text))
    return WorkbookError(f"{command} failed (exit status non-zero)", tail(text))


def failing_step(build_output: str) -> str:
    """The failing step of a BuildKit build (plain progress) with its output, or the tail."""
    lines = build_output.splitlines()
    error_at = next((i for i, line in enumerate(lines) if line.startswith("ERROR: ")), None)
    if error_at is None:
        return tail(build_output)
    # The step that failed is the last '#N [..] COMMAND' header whose number has an ERROR line.
    failed = re.search(r"^#(\d+) ERROR:", build_output, re.MULTILINE)
    if failed:
        number = failed.group(1)
        step = [line for line in lines if line.startswith(f"#{number} ")]
        return "\n".join(step[-25:] + lines[error_at:error_at + 3])
    return "\n".join(lines[max(0, error_at - 20):error_at + 3])


def tail(text: str, count: int = 15) -> str:
    """The last `count` lines of a command's output: enough to show the cause."""
    return "\n".join(text.strip().splitlines()[-count:])
