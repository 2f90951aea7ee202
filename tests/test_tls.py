"""TLS to a ClaraVerse server: verified by default, a private CA trusted with --ca-cert."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sandbox.app import create_app
from reconciler.targets.sqlite import Store
from tests.sandbox import admin_token, reconcile, write
from tests.servers import running

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a certificate it signed for 127.0.0.1, made with the openssl CLI."""
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test Private CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=d,
    )
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
        cwd=d,
    )
    return d


@pytest.fixture
def https_sandbox(tmp_path: Path, private_ca: Path) -> Iterator[tuple[str, str]]:
    store = Store(tmp_path / "tls.db")
    app = create_app(store)
    with running(
        app, certfile=str(private_ca / "server.pem"), keyfile=str(private_ca / "server.key")
    ) as url:
        yield url, admin_token(store)
    store.close()


def _file() -> None:
    write(Path("providers.yaml"), "version: 1\nproviders: []\n")


def test_an_unknown_ca_is_refused_with_advice(https_sandbox: tuple[str, str]) -> None:
    url, token = https_sandbox
    _file()
    result = reconcile("plan", "--target", url, CLARAVERSE_TOKEN=token)
    assert result.returncode == 1
    assert "could not be verified" in result.stderr and "--ca-cert" in result.stderr
    assert token not in result.stderr


def test_ca_cert_trusts_a_private_ca(https_sandbox: tuple[str, str], private_ca: Path) -> None:
    url, token = https_sandbox
    _file()
    result = reconcile(
        "plan", "--target", url, "--ca-cert", str(private_ca / "ca.pem"), CLARAVERSE_TOKEN=token
    )
    assert result.returncode == 0, result.stderr
    assert "No changes" in result.stdout
