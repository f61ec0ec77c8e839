"""HTTP transports: one keep-alive ``http.client`` connection, or a mock.

Everything that talks to the server goes through a ``Transport``. The real
one, ``HTTPTransport``, keeps one connection open (reconnecting after
errors) and honours ``HTTP(S)_PROXY``/``NO_PROXY``. It is not thread-safe:
each thread that sends makes its own. ``MockTransport`` calls a function
instead of the network, for tests::

    def handler(request: fluoro.Request) -> fluoro.Response:
        return fluoro.Response(200, {"seq": 1})

    fluoro.init(settings=fluoro.Settings(transport=fluoro.MockTransport(handler)))
"""

from __future__ import annotations

import json
import os
import threading
import urllib.parse
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

from ._version import __version__

USER_AGENT = "fluoro-python/" + __version__


class TransportError(OSError):
    """No HTTP answer came back: connection refused or reset, timeout, DNS."""


class FileBody:
    """A request body streamed from a file (run file uploads), never read whole.

    Only ``HTTPTransport`` streams it; ``Client.raw`` hands other transports
    the file's bytes, as their handlers expect.
    """

    __slots__ = ("path", "size")

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.size = size

    def read_all(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()


class Request:
    """One HTTP request. ``path`` includes the query string."""

    __slots__ = ("method", "url", "path", "headers", "body")

    def __init__(self, method: str, url: str, headers: Dict[str, str], body: Any) -> None:
        self.method = method
        self.url = url
        self.path = urllib.parse.urlsplit(url).path
        q = urllib.parse.urlsplit(url).query
        if q:
            self.path += "?" + q
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        """The body decoded as JSON (NaN/Infinity literals allowed)."""
        return json.loads(self.body) if self.body and not isinstance(self.body, FileBody) else None

    def __repr__(self) -> str:
        return "Request(%s %s)" % (self.method, self.path)


class Response:
    """An HTTP response. ``content`` may be given as bytes or as a JSON-able object."""

    def __init__(
        self,
        status: int,
        content: Any = b"",
        headers: Optional[Dict[str, str]] = None,
        lines: Optional[Iterator[bytes]] = None,
    ) -> None:
        self.status = status
        if not isinstance(content, (bytes, bytearray)):
            content = json.dumps(content).encode()
        self.content = bytes(content)
        self.headers = headers or {}
        self._lines = lines

    def json(self) -> Any:
        return json.loads(self.content) if self.content else None

    def iter_lines(self) -> Iterator[bytes]:
        """The body line by line (streamed when the transport streams)."""
        if self._lines is not None:
            return self._lines
        return iter(self.content.splitlines())

    def error(self) -> "tuple[str, str]":
        """The server's (code, message) for an error response."""
        try:
            e = self.json()["error"]
            return str(e.get("code", "")), str(e.get("message", ""))
        except Exception:
            return "", self.content[:200].decode("utf-8", "replace")


class Transport:
    """Sends requests. Subclass and override ``handle``."""

    def handle(self, request: Request, stream: bool = False) -> Response:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass

    def for_thread(self) -> "Transport":
        """A transport for another thread: a new connection, or self if shareable."""
        return self


class MockTransport(Transport):
    """Calls ``handler(request)`` instead of the network. Thread-safe.

    The handler returns a ``Response`` or raises ``TransportError`` to
    simulate an unreachable server.
    """

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self.handler = handler
        self.requests: List[Request] = []
        self._lock = threading.Lock()

    def handle(self, request: Request, stream: bool = False) -> Response:
        with self._lock:
            self.requests.append(request)
            return self.handler(request)


_PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def _proxy_for(url: urllib.parse.SplitResult) -> Optional[urllib.parse.SplitResult]:
    if not any(os.environ.get(v) for v in _PROXY_VARS):
        return None  # the common case, without importing urllib.request (and ssl, email, ...)
    import urllib.request

    host = url.hostname or ""
    try:
        if urllib.request.proxy_bypass(host):
            return None
    except Exception:
        pass
    proxy = urllib.request.getproxies().get(url.scheme)
    if not proxy:
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    return urllib.parse.urlsplit(proxy)


class HTTPTransport(Transport):
    """One keep-alive connection to one server (http or https), via a proxy if set."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base = urllib.parse.urlsplit(base_url)
        if self.base.scheme not in ("http", "https") or not self.base.hostname:
            raise ValueError("base URL %r: want http(s)://host[:port]" % base_url)
        self.timeout = timeout
        self._conn: Any = None  # http.client.HTTPConnection
        self._proxy = _proxy_for(self.base)

    def for_thread(self) -> "HTTPTransport":
        return HTTPTransport(urllib.parse.urlunsplit(self.base), self.timeout)

    def _connect(self) -> Any:
        import http.client

        b, p = self.base, self._proxy
        conn: Any
        if p is not None and b.scheme == "https":
            conn = http.client.HTTPSConnection(p.hostname or "", p.port, timeout=self.timeout)
            conn.set_tunnel(b.hostname or "", b.port)
        elif p is not None:
            conn = http.client.HTTPConnection(p.hostname or "", p.port, timeout=self.timeout)
        elif b.scheme == "https":
            conn = http.client.HTTPSConnection(b.hostname or "", b.port, timeout=self.timeout)
        else:
            conn = http.client.HTTPConnection(b.hostname or "", b.port, timeout=self.timeout)
        return conn

    def handle(self, request: Request, stream: bool = False) -> Response:

        target = request.path
        if self._proxy is not None and self.base.scheme == "http":
            target = request.url  # absolute form through a plain HTTP proxy
        # A kept-alive connection may have been closed by the server while
        # idle; one retry on a fresh connection covers that without
        # hiding a real outage.
        body, headers, f = request.body, request.headers, None
        if isinstance(body, FileBody):
            try:
                f = open(body.path, "rb")
            except OSError as e:
                raise TransportError("cannot read %s: %s" % (body.path, e)) from e
            headers = dict(headers, **{"Content-Length": str(body.size)})
        try:
            return self._send(request.method, target, body, headers, f, stream)
        finally:
            if f is not None:
                f.close()

    def _send(self, method: str, target: str, body: Any, headers: Dict[str, str], f: Any, stream: bool) -> Response:
        import http.client

        for attempt in (0, 1):
            if self._conn is None:
                self._conn = self._connect()
                self._conn.blocksize = 1 << 20  # a streamed file goes out in 1 MiB writes
            fresh = attempt == 1
            try:
                if f is not None:
                    f.seek(0)
                    body = f
                self._conn.request(method, target, body=body, headers=headers)
                resp = self._conn.getresponse()
                if stream:
                    return Response(resp.status, b"", dict(resp.getheaders()), lines=self._stream(resp))
                body = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return Response(resp.status, body, dict(resp.getheaders()))
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if fresh:
                    raise TransportError(str(e) or type(e).__name__) from e
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise TransportError(str(e) or type(e).__name__) from e
        raise TransportError("unreachable")  # pragma: no cover

    def _stream(self, resp: Any) -> Iterator[bytes]:
        import http.client

        try:
            while True:
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException) as e:
                    self.close()
                    raise TransportError(str(e)) from e
                if not line:
                    break
                yield line.rstrip(b"\r\n")
        finally:
            if not resp.isclosed():
                # an abandoned stream leaves the connection mid-response
                self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None


class Client:
    """JSON calls to the Fluoro API with one transport and one API key."""

    def __init__(self, base_url: str, api_key: Optional[str], transport: Transport) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.transport = transport

    def for_thread(self) -> "Client":
        return Client(self.base_url, self.api_key, self.transport.for_thread())

    def headers(self, content_type: Optional[str] = "application/json") -> Dict[str, str]:
        h = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if content_type:
            h["Content-Type"] = content_type
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        return h

    def raw(
        self,
        method: str,
        path: str,
        body: Union[None, bytes, FileBody] = None,
        stream: bool = False,
        content_type: Optional[str] = "application/json",
        headers: Optional[Dict[str, str]] = None,
    ) -> Response:
        """Send and return the response whatever its status; raises TransportError."""
        h = self.headers(content_type if body is not None else None)
        if headers:
            h.update(headers)
        if isinstance(body, FileBody) and not isinstance(self.transport, HTTPTransport):
            body = body.read_all()  # test and custom transports take bytes
        req = Request(method, self.base_url + path, h, body)
        return self.transport.handle(req, stream=stream)

    def call(
        self,
        method: str,
        path: str,
        body: Union[None, bytes, Dict[str, Any]] = None,
        stream: bool = False,
        headers: Optional[Dict[str, str]] = None,
    ) -> Response:
        """Send and raise CommError/AuthError unless the status is 2xx."""
        from ._errors import AuthError, CommError

        if isinstance(body, dict):
            body = json.dumps(body, allow_nan=False).encode()
        try:
            resp = self.raw(method, path, body, stream=stream, headers=headers)
        except TransportError as e:
            raise CommError("cannot reach %s: %s" % (self.base_url, e)) from e
        if 200 <= resp.status < 300:
            return resp
        if stream:
            resp = Response(resp.status, b"\n".join(resp.iter_lines()))
        code, msg = resp.error()
        text = "%s %s: HTTP %d %s: %s" % (method, path.split("?")[0], resp.status, code, msg)
        cls = AuthError if resp.status in (401, 403) else CommError
        raise cls(text, status=resp.status, code=code, body=resp.content)

    def close(self) -> None:
        self.transport.close()


def quote(s: str) -> str:
    """Quote one path segment."""
    return urllib.parse.quote(s, safe="")
