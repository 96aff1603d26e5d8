"""A real rsyslogd (Debian's) as the SIEM peer: UDP, TCP and TLS inputs on loopback, one output file.

Each received message becomes one line of ``received.log``: the input, then rsyslog's own parse of
the RFC 5424 fields (PRI, hostname, app-name, procid, msgid, structured data) and MSG, tab-separated.
The TLS input uses rsyslog's OpenSSL driver with a throwaway CA and server certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import free_port, wait_until

RSYSLOGD = "/usr/sbin/rsyslogd"
TLS_DRIVER = Path("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so")

_CONFIG = """
global(workDirectory="{work}" maxMessageSize="64k"
       defaultNetstreamDriverCAFile="{ca}" defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
module(load="imtcp" maxSessions="50")
template(name="fields" type="string"
         string="%inputname%\\t%pri%\\t%hostname%\\t%app-name%\\t%procid%\\t%msgid%\\t%structured-data%\\t%msg%\\n")
ruleset(name="siem") {{
  action(type="omfile" file="{out}" template="fields" flushOnTXEnd="on" asyncWriting="off")
}}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="siem" name="udp")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="siem" name="tcp")
input(type="imtcp" address="127.0.0.1" port="{tls}" ruleset="siem" name="tls"
      streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
"""


@dataclass(frozen=True)
class Received:
    """One message as rsyslog parsed it."""

    input: str
    pri: int
    hostname: str
    app_name: str
    procid: str
    msgid: str
    structured_data: str
    msg: str


def write_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost: (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "suite test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    alt_names = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(alt_names, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class Rsyslog:
    """rsyslogd in the foreground with its own config, ports and output; stop() and start() again keep both."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.output = directory / "received.log"
        self.ca_file, cert, key = write_tls_files(directory)
        self.udp_port, self.tcp_port, self.tls_port = free_port(), free_port(), free_port()
        (directory / "work").mkdir(exist_ok=True)
        self.config = directory / "rsyslog.conf"
        self.config.write_text(
            _CONFIG.format(
                work=directory / "work",
                ca=self.ca_file,
                cert=cert,
                key=key,
                out=self.output,
                udp=self.udp_port,
                tcp=self.tcp_port,
                tls=self.tls_port,
            )
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Rsyslog:
        """Start the daemon and wait until its TCP and TLS inputs accept connections."""
        for needed, package in ((Path(RSYSLOGD), "rsyslog"), (TLS_DRIVER, "rsyslog-openssl")):
            assert needed.exists(), f"{needed} is missing: install the Debian package {package} (scripts/test.sh does)"
        check = subprocess.run([RSYSLOGD, "-N1", "-f", str(self.config)], check=False, capture_output=True, text=True)
        assert check.returncode == 0, f"rsyslog refuses its test config: {check.stderr}"
        with (self.directory / "rsyslogd.out").open("ab") as log:
            self._process = subprocess.Popen(
                [RSYSLOGD, "-n", "-f", str(self.config), "-i", str(self.directory / "rsyslogd.pid")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: _accepts(self.tcp_port) and _accepts(self.tls_port), timeout=20, what="rsyslogd up")
        return self

    def stop(self) -> None:
        """SIGTERM and wait: rsyslog writes out what it received, then exits."""
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(timeout=20)
            self._process = None

    def received(self) -> list[Received]:
        """Every message written so far, in arrival order."""
        if not self.output.exists():
            return []
        text = self.output.read_text(encoding="utf-8")
        # rsyslog may be writing a line right now: only whole lines (ended by a newline) count.
        complete = text[: text.rfind("\n") + 1]
        return [_parse(line) for line in complete.splitlines() if line]


def _parse(line: str) -> Received:
    name, pri, hostname, app_name, procid, msgid, data, msg = line.split("\t", 7)
    return Received(name, int(pri), hostname, app_name, procid, msgid, data, msg)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
