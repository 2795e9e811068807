"""The emulator's throwaway certificate authority.

google-genai always connects with wss://, so the emulator serves TLS with a CA made
for this process only; the CA file is written where a client can trust it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass
class EmulatorTLS:
    """A server context for the emulator, and what a client needs to trust it."""

    server_context: ssl.SSLContext
    ca_file: Path
    _ca: trustme.CA

    @classmethod
    def create(cls, directory: Path) -> "EmulatorTLS":
        """Makes a CA and a certificate for localhost and 127.0.0.1; writes the CA to directory."""
        ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(server_context)
        directory.mkdir(parents=True, exist_ok=True)
        ca_file = directory / "emulator-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        return cls(server_context=server_context, ca_file=ca_file, _ca=ca)

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this emulator (for HttpOptions.async_client_args)."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context
