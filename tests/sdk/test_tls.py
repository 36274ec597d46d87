"""``cmlapi`` over HTTPS (the server behind TLS, as workspaces are): an unknown certificate
is refused, ``ssl_ca_cert`` trusts it, ``verify_ssl = False`` skips the check."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from lakeworks.entities.users import User


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def https_server(app: FastAPI, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert_file, key_file = _self_signed(tmp_path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}", cert_file
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def test_tls_verification_follows_the_configuration(
    cmlapi: ModuleType,
    https_server: tuple[str, Path],
    make_user: Callable[..., User],
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    url, cert_file = https_server
    key = api_headers(make_user("alice"))["Authorization"].split()[1]

    def client(**settings: Any) -> Any:
        config = cmlapi.Configuration()
        config.host = url
        for name, value in settings.items():
            setattr(config, name, value)
        api_client = cmlapi.ApiClient(config)
        api_client.set_default_header("authorization", f"Bearer {key}")
        return cmlapi.CMLServiceApi(api_client)

    with pytest.raises(cmlapi.rest.ApiException) as refused:
        client().list_projects()
    assert refused.value.status == 0 and "CERTIFICATE_VERIFY_FAILED" in refused.value.reason
    assert client(ssl_ca_cert=str(cert_file)).list_projects().projects == []
    assert client(verify_ssl=False).list_projects().projects == []
