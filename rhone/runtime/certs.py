"""`make certs` (python -m rhone.runtime.certs [DIR]): a local CA and one certificate per
service, for mTLS between Rhone's services on one machine or in a test cluster.

Writes DIR/ca.pem (the CA every service trusts: RHONE_TLS_CA), and DIR/<service>.pem with
DIR/<service>-key.pem (RHONE_TLS_CERT, RHONE_TLS_KEY) for facade, translator, sessions and
providers. Each certificate names localhost, 127.0.0.1 and the service's Kubernetes names
(rhone-<service>, rhone-<service>.<namespace>.svc). The CA's key is not kept: a new service
certificate needs a new CA, which is what a local setup wants. Production certificates come
from the cluster's own issuer (docs/grpc.md)."""

from __future__ import annotations

import datetime
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICES = ("facade", "translator", "sessions", "providers")
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Rhone (local)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class LocalCa:
    """A self-signed CA held in memory; `issue` signs a service certificate."""

    def __init__(self, common_name: str = "Rhone local CA") -> None:
        now = datetime.datetime.now(datetime.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, service: str, namespace: str = "rhone") -> Issued:
        """A certificate for both ends of a connection (server and client auth)."""
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName(f"rhone-{service}"),
            x509.DNSName(f"rhone-{service}.{namespace}.svc"),
            x509.DNSName(f"rhone-{service}.{namespace}.svc.cluster.local"),
        ]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"rhone-{service}"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def write_certs(directory: Path, services: tuple[str, ...] = SERVICES) -> LocalCa:
    directory.mkdir(parents=True, exist_ok=True)
    ca = LocalCa()
    (directory / "ca.pem").write_bytes(ca.cert_pem)
    for service in services:
        issued = ca.issue(service)
        (directory / f"{service}.pem").write_bytes(issued.cert_pem)
        key_path = directory / f"{service}-key.pem"
        key_path.write_bytes(issued.key_pem)
        key_path.chmod(0o600)
    return ca


def main() -> None:
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else ".rhone/certs")
    write_certs(directory)
    print(f"wrote a local CA and certificates for {', '.join(SERVICES)} to {directory}/")
    print(
        "each service: RHONE_TLS_CA=ca.pem RHONE_TLS_CERT=<service>.pem "
        "RHONE_TLS_KEY=<service>-key.pem"
    )


if __name__ == "__main__":
    main()
