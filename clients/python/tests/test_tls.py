"""The client over TLS."""

import grpc
import pytest

from featurestore_client import FeatureStoreError


def test_tls_with_the_servers_certificate(tls_server):
    # As a path, and as PEM bytes.
    for ca in (str(tls_server.cert), tls_server.cert.read_bytes()):
        with tls_server.client(ca_cert=ca) as c:
            assert c.catalogue().version >= 1
    # The certificate names localhost: server_name checks that name.
    with tls_server.client(ca_cert=str(tls_server.cert), server_name="localhost") as c:
        assert c.catalogue().version >= 1


@pytest.mark.parametrize(
    "kw",
    [
        {},  # plaintext to a TLS server
        {"tls": True},  # the system's authorities do not know the certificate
        {"ca_cert": "CERT", "server_name": "other.example"},  # a name the certificate lacks
    ],
    ids=["plaintext", "system roots", "wrong name"],
)
def test_tls_refused(tls_server, kw):
    kw = {k: str(tls_server.cert) if v == "CERT" else v for k, v in kw.items()}
    with tls_server.client(timeout=10, **kw) as c:
        with pytest.raises(FeatureStoreError) as e:
            c.catalogue()
    assert e.value.code == grpc.StatusCode.UNAVAILABLE


def test_bad_tls_arguments(server):
    with pytest.raises(ValueError, match="client_cert and client_key"):
        server.client(client_cert=b"x")
    with pytest.raises(ValueError, match="server_name"):
        server.client(server_name="localhost")
