"""A small adapterd client and daemon launcher for the fault and security scripts (Python standard
library only; written from docs/PROTOCOL.md)."""
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import time

MAX_FRAME = 64 * 1024 * 1024

# Error codes of docs/PROTOCOL.md.
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAUTHORIZED = -32001
NOT_FOUND = -32002
REFUSED = -32003
OVER_BUDGET = -32004
TOO_LARGE = -32005
BUSY = -32006
READ_ONLY = -32009


class RPCError(Exception):
    """An error response of the daemon."""

    def __init__(self, error):
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data")
        super().__init__("%s (%s)" % (self.message, self.code))


class ConnectionLost(Exception):
    """The connection broke before the response arrived (e.g. the daemon was killed)."""


class Client:
    def __init__(self, path, timeout=120.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as error:
            self.sock.close()
            raise ConnectionLost("cannot connect to %s: %s" % (path, error))
        self.next_id = 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read_exact(self, n):
        chunks = []
        while n > 0:
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except OSError as error:
                raise ConnectionLost(str(error))
            if not chunk:
                raise ConnectionLost("connection closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def call(self, method, params=None, on_progress=None):
        """Returns the result; raises RPCError for an error response, ConnectionLost if none came."""
        request_id = self.next_id
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            request["params"] = params
        payload = json.dumps(request, separators=(",", ":")).encode("utf-8")
        try:
            self.sock.sendall(struct.pack(">I", len(payload)) + payload)
        except OSError:
            pass  # the daemon may have answered and closed already; read what it sent
        while True:
            (length,) = struct.unpack(">I", self._read_exact(4))
            if length > MAX_FRAME:
                raise ConnectionLost("frame of %d bytes" % length)
            message = json.loads(self._read_exact(length).decode("utf-8"))
            if "method" in message and "id" not in message:
                if on_progress is not None and message.get("method") == "progress":
                    on_progress(message.get("params", {}))
                continue
            if "error" in message:
                raise RPCError(message["error"])
            return message["result"]


def call(path, method, params=None, timeout=120.0):
    with Client(path, timeout) as client:
        return client.call(method, params)


class Adapter:
    """Install params of one adapter directory with the examples of its task."""

    def __init__(self, name, config, weights, examples):
        self.name = name
        self.config = config
        self.weights = weights
        self.examples = examples
        self.sha256 = sha256_hex(weights)

    @staticmethod
    def load(directory, examples_path, name=None):
        with open(os.path.join(directory, "adapter_config.json"), "r", encoding="utf-8") as f:
            config = f.read()
        with open(os.path.join(directory, "adapter_model.safetensors"), "rb") as f:
            weights = f.read()
        with open(examples_path, "r", encoding="utf-8") as f:
            examples = f.read()
        return Adapter(name or os.path.basename(directory), config, weights, examples)

    def params(self, task):
        return {"task": task, "config": self.config, "safetensors": base64.b64encode(self.weights).decode("ascii"),
                "examples": self.examples}

    def variant(self, index):
        """The same adapter with the lowest bit of one weight byte flipped: other bytes and sha256, the
        same behaviour to within one unit in the last place of one number."""
        (header_length,) = struct.unpack("<Q", self.weights[:8])
        data_start = 8 + header_length
        header = json.loads(self.weights[8:data_start])
        tensors = sorted((v["data_offsets"][0], v["dtype"]) for k, v in header.items() if k != "__metadata__")
        offset, dtype = tensors[index % len(tensors)]
        width = {"F32": 4, "F16": 2, "BF16": 2}.get(dtype, 1)
        position = data_start + offset + width * (index // len(tensors))
        if position >= len(self.weights):
            position = data_start + offset
        weights = bytearray(self.weights)
        weights[position] ^= 1  # little-endian: the first byte holds the lowest mantissa bits
        return Adapter("%s~%d" % (self.name, index), self.config, bytes(weights), self.examples)


def sha256_hex(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def benign_corpus(root, limit_bytes=None):
    """Benign adapters of data/corpus (manifest.json), smallest first, with their task's few.jsonl."""
    with open(os.path.join(root, "manifest.json"), "r", encoding="utf-8") as f:
        manifest = json.load(f)
    found = []
    for entry in manifest.get("adapters", []):
        if entry.get("poisoned", True):
            continue
        directory = os.path.join(root, entry.get("path", "adapters/" + entry["id"]))
        examples = os.path.join(root, "tasks", entry["task"], "few.jsonl")
        weights = os.path.join(directory, "adapter_model.safetensors")
        if not (os.path.exists(weights) and os.path.exists(examples)):
            continue
        size = os.path.getsize(weights)
        if limit_bytes is not None and size > limit_bytes:
            continue
        found.append((size, entry["id"], directory, examples))
    found.sort()
    return [Adapter.load(directory, examples, name) for _, name, directory, examples in found]


class Daemon:
    """A real adapterd process on a private socket and state directory."""

    def __init__(self, binary, socket_path, state_dir, config_path, log_path, extra=()):
        self.binary = binary
        self.socket = socket_path
        self.state = state_dir
        self.config = config_path
        self.log_path = log_path
        self.extra = list(extra)
        self.process = None

    def start(self, timeout=60.0, preexec=None):
        env = dict(os.environ)
        for key in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "JOURNAL_STREAM"):
            env.pop(key, None)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [self.binary, "--socket", self.socket, "--state-dir", self.state, "--config", self.config] + self.extra,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, preexec_fn=preexec)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("adapterd exited with %s: %s" % (self.process.returncode, self.log_tail()))
            try:
                call(self.socket, "status", timeout=5)
                return
            except (ConnectionLost, RPCError, OSError):
                time.sleep(0.02)
        raise RuntimeError("adapterd did not serve within %.0f s: %s" % (timeout, self.log_tail()))

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def stop(self, timeout=30.0):
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def write_config(path, **values):
    """An adapterd configuration file with `key = value` lines (underscores become dashes)."""
    with open(path, "w", encoding="utf-8") as f:
        for key, value in values.items():
            f.write("%s = %s\n" % (key.replace("_", "-"), value))
