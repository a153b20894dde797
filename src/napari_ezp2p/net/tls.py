"""TLS for our associations: the client ``ssl.SSLContext`` a :class:`TlsSettings` describes."""

from __future__ import annotations

import ssl

from ..core.errors import Ezp2pError
from .destination import TlsSettings


class TlsError(Ezp2pError, ValueError):
    """TLS settings that cannot be used (a CA bundle, certificate or key that does not load)."""


def client_context(tls: TlsSettings) -> ssl.SSLContext:
    """A client context: TLS 1.2 or later, the peer verified against ``tls.ca_file`` (the
    system's CAs when empty), our certificate and key presented when given.

    With ``verify`` False the peer's certificate and host name are not checked at all.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.verify:
        try:
            if tls.ca_file:
                context.load_verify_locations(cafile=tls.ca_file)
            else:
                context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        except (OSError, ssl.SSLError) as error:
            raise TlsError(
                f"TLS: cannot load the CA bundle {tls.ca_file!r}: {_why(error)}"
            ) from None
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file or None)
        except (OSError, ssl.SSLError) as error:
            raise TlsError(
                f"TLS: cannot load the client certificate {tls.cert_file!r}"
                f"{f' with key {tls.key_file!r}' if tls.key_file else ''}: {_why(error)}"
            ) from None
    elif tls.key_file:
        raise TlsError("TLS: a client key was given without its certificate")
    return context


def describe_tls_error(error: ssl.SSLError) -> str:
    """A human sentence for a failed TLS handshake."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {error.verify_message}"
    return f"TLS handshake failed: {_why(error)}"


def _why(error: OSError) -> str:
    if isinstance(error, ssl.SSLError):
        return error.reason or error.strerror or str(error)
    return error.strerror or str(error)
