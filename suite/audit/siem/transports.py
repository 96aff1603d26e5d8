"""Where forwarded records go: syslog over UDP, TCP or TLS, or a JSON-lines file.

Transports are blocking (stdlib ``socket`` and ``ssl``, with the destination's timeout) and are
only ever used from their forwarder's own thread. ``send`` either hands over the whole batch or
raises ``OSError`` (``ssl.SSLError`` is one); the forwarder then retries the batch, so a record is
sent at least once. A stream connection is kept between batches and checked before each one:
syslog receivers never write back, so a readable socket means the receiver closed it, and the
batch goes over a new connection instead of into a dead one.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
from pathlib import Path
from typing import Any, Protocol

from suite.audit.siem.syslog import SyslogFormat, head_json, octet_counted, record_json
from suite.config import SiemDestination


class Transport(Protocol):
    """Sends batches of stored records to one destination."""

    # True: the destination takes signed heads only (a witness); its records cursor just follows the head.
    heads_only: bool

    def send(self, records: list[dict[str, Any]]) -> None:
        """Deliver every record of the batch in order, or raise OSError."""

    def send_heads(self, heads: list[dict[str, Any]]) -> None:
        """Deliver signed heads (checkpoints), each as a message of its own, or raise OSError."""

    def close(self) -> None:
        """Release the connection or file (the next send opens a new one)."""


def transport_for(destination: SiemDestination, *, data_dir: Path) -> Transport:
    """The transport of a configured destination; relative paths are taken from data_dir."""
    if destination.kind == "jsonl":
        assert destination.path is not None  # the settings refuse jsonl without a path
        return JsonLinesFile(data_dir / destination.path, include_content=destination.include_content)
    if destination.kind == "syslog_udp":
        return SyslogUdp(destination)
    if destination.kind == "witness":
        return WitnessHttp(destination, data_dir=data_dir)
    return SyslogStream(destination, data_dir=data_dir)


def _tls_context(destination: SiemDestination, *, data_dir: Path) -> ssl.SSLContext:
    # Built at each connection, so a renewed CA or client certificate is picked up without a restart,
    # and a missing file is a forwarding error (logged, retried) rather than a gateway that will not start.
    ca_file = data_dir / destination.ca_file if destination.ca_file else None
    # Verifies the receiver's certificate and its name; TLS 1.2 at least, as RFC 9662 requires of RFC 5425.
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if destination.cert_file and destination.key_file:
        context.load_cert_chain(data_dir / destination.cert_file, data_dir / destination.key_file)
    return context


class SyslogUdp:
    """RFC 5426: one message per datagram, at most max_datagram_bytes; no delivery guarantee."""

    heads_only = False

    def __init__(self, destination: SiemDestination) -> None:
        self._destination = destination
        self._format = SyslogFormat.of(destination)
        self._socket: socket.socket | None = None

    def send(self, records: list[dict[str, Any]]) -> None:
        """Send each record as a datagram (a refused earlier datagram surfaces here as OSError)."""
        if self._socket is None:
            self._socket = _connect(self._destination, socket.SOCK_DGRAM)
        limit = self._destination.max_datagram_bytes
        for record in records:
            self._socket.send(self._format.message(record, max_bytes=limit))

    def send_heads(self, heads: list[dict[str, Any]]) -> None:
        """Send each head as a datagram (about 500 bytes: within any receiver's limit)."""
        if self._socket is None:
            self._socket = _connect(self._destination, socket.SOCK_DGRAM)
        for head in heads:
            self._socket.send(self._format.head_message(head))

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class SyslogStream:
    """RFC 6587 octet counting over TCP, or over TLS (RFC 5425) for kind syslog_tls."""

    heads_only = False

    def __init__(self, destination: SiemDestination, *, data_dir: Path) -> None:
        self._destination = destination
        self._format = SyslogFormat.of(destination)
        self._data_dir = data_dir
        self._socket: socket.socket | None = None

    def send(self, records: list[dict[str, Any]]) -> None:
        """Send the batch as one write of framed messages, over a live connection."""
        self._write(b"".join(octet_counted(self._format.message(record)) for record in records))

    def send_heads(self, heads: list[dict[str, Any]]) -> None:
        """Send the heads as one write of framed messages, over a live connection."""
        self._write(b"".join(octet_counted(self._format.head_message(head)) for head in heads))

    def _write(self, payload: bytes) -> None:
        if self._socket is not None and _peer_closed(self._socket):
            self.close()
        if self._socket is None:
            self._socket = self._open()
        try:
            self._socket.sendall(payload)
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection (with a TLS close_notify where possible)."""
        if self._socket is None:
            return
        try:
            if isinstance(self._socket, ssl.SSLSocket):
                self._socket.unwrap()
        except (OSError, ValueError):
            pass  # the receiver is gone already; nothing to say goodbye to
        finally:
            self._socket.close()
            self._socket = None

    def _open(self) -> socket.socket:
        if self._destination.kind != "syslog_tls":
            return _connect(self._destination, socket.SOCK_STREAM)
        context = _tls_context(self._destination, data_dir=self._data_dir)
        plain = _connect(self._destination, socket.SOCK_STREAM)
        name = self._destination.server_name or self._destination.host
        try:
            return context.wrap_socket(plain, server_hostname=name)
        except OSError:
            plain.close()
            raise


def _connect(destination: SiemDestination, kind: socket.SocketKind) -> socket.socket:
    # getaddrinfo picks IPv4 or IPv6 from the host; the first address that connects wins.
    error: OSError | None = None
    for family, _, proto, _, address in socket.getaddrinfo(destination.host, destination.port, type=kind):
        sock = socket.socket(family, kind, proto)
        sock.settimeout(destination.timeout_s)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {destination.host}")


def _peer_closed(sock: socket.socket) -> bool:
    """True when the receiver has closed the connection (it never sends data otherwise)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


class JsonLinesFile:
    """Appends one JSON record per line and fsyncs each batch; reopened per batch, so logrotate's
    default ``create`` mode works without signalling the gateway."""

    heads_only = False

    def __init__(self, path: Path, *, include_content: bool) -> None:
        self._path = path
        self._include_content = include_content

    def send(self, records: list[dict[str, Any]]) -> None:
        """Append the batch and make it durable before the cursor moves past it."""
        self._append("".join(record_json(r, include_content=self._include_content) + "\n" for r in records))

    def send_heads(self, heads: list[dict[str, Any]]) -> None:
        """Append the heads as checkpoint lines (``"type":"checkpoint"``; record lines have no type)."""
        self._append("".join(head_json(head) + "\n" for head in heads))

    def _append(self, text: str) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as target:
            target.write(text)
            target.flush()
            os.fsync(target.fileno())

    def close(self) -> None:
        """Nothing stays open between batches."""


class WitnessHttp:
    """Signed heads to a witness (another suite's /audit/witness, docs/audit.md); no records ever.

    A POST per batch; anything but 200 raises OSError, so the forwarder retries and a witness that
    refuses a head (409: the trail was rewritten) holds the cursor there, loudly, until someone looks.
    """

    heads_only = True

    def __init__(self, destination: SiemDestination, *, data_dir: Path) -> None:
        assert destination.url is not None  # the settings refuse a witness without a url
        self._url = f"{destination.url.rstrip('/')}/{destination.origin}/heads"
        ca_file = destination.ca_file
        self._verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=data_dir / ca_file) if ca_file is not None else True
        )
        self._timeout = destination.timeout_s
        self._client: Any = None

    def send(self, records: list[dict[str, Any]]) -> None:
        """Records do not go to a witness."""

    def send_heads(self, heads: list[dict[str, Any]]) -> None:
        """POST the heads; OSError unless the witness countersigned them all."""
        import httpx  # only a witness destination needs it

        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout, verify=self._verify, trust_env=False)
        try:
            answer = self._client.post(self._url, json={"heads": heads})
        except httpx.HTTPError as exc:
            raise OSError(f"witness {self._url}: {type(exc).__name__}: {exc}") from None
        if answer.status_code != 200:
            raise OSError(f"witness {self._url} answered {answer.status_code}: {_error_message(answer.text)}")
        witnessed = answer.json().get("witnessed")
        if not isinstance(witnessed, list) or len(witnessed) != len(heads):
            raise OSError(f"witness {self._url}: the answer does not countersign every head")

    def close(self) -> None:
        """Close the HTTP client (the next send opens a new one)."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _error_message(text: str) -> str:
    try:
        return str(json.loads(text)["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return text[:300]
