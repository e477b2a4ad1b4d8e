#!/usr/bin/env python3
"""A client of adapterd written from docs/PROTOCOL.md, with the Python standard library only.

Usage:
  python_client.py SOCKET call METHOD [PARAMS_JSON | @FILE]
      Sends one request; prints the whole response object (result or error) as JSON on stdout.
  python_client.py SOCKET install TASK ADAPTER_DIR EXAMPLES_FILE
      Sends an install; prints {"progress": [stages...], "response": {...}} on stdout.
Exit status: 0 when the response has "result", 1 when it has "error", 3 when the socket cannot be used.
"""
import base64
import json
import os
import socket
import struct
import sys

MAX_FRAME = 64 * 1024 * 1024


class ProtocolError(Exception):
    pass


class Client:
    def __init__(self, path, timeout=60.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.next_id = 1

    def close(self):
        self.sock.close()

    def _send_frame(self, obj):
        payload = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        try:
            self.sock.sendall(struct.pack(">I", len(payload)) + payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a refused connection (busy, shutting down) is answered and closed at once: read that answer

    def _read_exact(self, n):
        chunks = []
        while n > 0:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise ProtocolError("connection closed in the middle of a frame")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self):
        (length,) = struct.unpack(">I", self._read_exact(4))
        if length > MAX_FRAME:
            raise ProtocolError("frame of %d bytes exceeds the client's limit" % length)
        return json.loads(self._read_exact(length).decode("utf-8"))

    def call(self, method, params=None, on_progress=None):
        request_id = self.next_id
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            request["params"] = params
        try:
            self._send_frame(request)
        except (BrokenPipeError, ConnectionResetError):
            # The daemon may refuse a frame from its header alone and close before we finish
            # sending; its error response is already waiting to be read.
            pass
        while True:
            message = self._read_frame()
            if "method" in message and "id" not in message:
                if message["method"] == "progress" and on_progress is not None:
                    if message["params"].get("requestId") == request_id:
                        on_progress(message["params"])
                continue
            if message.get("id") not in (request_id, None):
                raise ProtocolError("response for unknown id %r" % (message.get("id"),))
            if message.get("jsonrpc") != "2.0":
                raise ProtocolError("response without jsonrpc 2.0")
            return message


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, mode = argv[1], argv[2]
    try:
        client = Client(path)
    except OSError as error:
        print("cannot connect to %s: %s" % (path, error), file=sys.stderr)
        return 3
    try:
        if mode == "call":
            params = None
            if len(argv) > 4:
                text = argv[4]
                if text.startswith("@"):
                    with open(text[1:], "r", encoding="utf-8") as f:
                        text = f.read()
                params = json.loads(text)
            response = client.call(argv[3], params)
            print(json.dumps(response, sort_keys=True))
        elif mode == "install":
            task, directory, examples = argv[3], argv[4], argv[5]
            with open(os.path.join(directory, "adapter_config.json"), "r", encoding="utf-8") as f:
                config = f.read()
            with open(os.path.join(directory, "adapter_model.safetensors"), "rb") as f:
                weights = base64.b64encode(f.read()).decode("ascii")
            with open(examples, "r", encoding="utf-8") as f:
                examples_text = f.read()
            stages = []
            response = client.call(
                "install",
                {"task": task, "config": config, "safetensors": weights, "examples": examples_text},
                on_progress=lambda p: stages.append(p["stage"]),
            )
            print(json.dumps({"progress": stages, "response": response}, sort_keys=True))
        else:
            print("unknown mode %r" % mode, file=sys.stderr)
            return 2
    except (OSError, ProtocolError, ValueError) as error:
        print("protocol failure: %s" % error, file=sys.stderr)
        return 3
    finally:
        client.close()
    return 0 if "result" in response else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
