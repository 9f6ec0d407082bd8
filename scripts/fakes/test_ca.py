"""The test certificate authority the TLS fakes share: a fresh CA per start
(its certificate written where the tests read it) that signs the fakes'
server certificates and, for mutual TLS, client certificates. Throwaway
EC P-256 keys, valid from yesterday for 30 days."""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def private_pem(key):
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_file(path, data, private=False):
    """Writes `data` whole under `path` (through a temporary name, so a
    reader polling for the file never sees half of it); 0600 if private."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with open(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class TestCa:
    def __init__(self, common_name):
        now = datetime.datetime.now(datetime.timezone.utc)
        self._start = now - datetime.timedelta(days=1)
        self._end = now + datetime.timedelta(days=30)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = _name(common_name)
        self.cert = (
            self._builder(self._name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )

    def _builder(self, subject, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._start)
            .not_valid_after(self._end)
        )

    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, path):
        """The CA certificate, where the tests read it (e.g. ca.pem)."""
        write_file(path, self.pem())

    def issue(self, common_name, dns_names=(), ip_addresses=(), client=False):
        """A leaf certificate and its key, both PEM: a server certificate
        for the names and addresses, or a client certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(_name(common_name), key.public_key())
        names = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        cert = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), private_pem(key)
