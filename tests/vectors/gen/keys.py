"""Write tests/vectors/keys.json: the fixed test keys every vector file refers to by name.

All keys derive from fixed strings, so the output is byte-for-byte deterministic:
HMAC secrets are literal strings, Ed25519 seeds and P-256 scalars are SHA-256 of a label,
P-384/P-521 scalars the top bits of SHA-512s of a label, RSA primes the first primes
after numbers drawn from a SHA-256 counter stream of a label (Miller-Rabin with bases from
the same stream, so no randomness anywhere).
Each key carries its JWK form(s) and `kid`, the RFC 7638 SHA-256 JWK thumbprint.
Usage: python keys.py [OUT]   (default: tests/vectors/keys.json next to this folder)
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

HMAC_SECRETS = {
    "hmac": "tollgate-test-vectors-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz",
    "hmac-other": "tollgate-test-vectors-OTHER-hmac-secret-0123456789abcdefghijklmnopqrstu",
}
ED25519_LABELS = {
    "ed25519": b"tollgate test vector ed25519 key",
    "ed25519-other": b"tollgate test vector ed25519 other key",
}
ES256_LABELS = {
    "es256": b"tollgate test vector es256 key",
    "es256-other": b"tollgate test vector es256 other key",
}
EC_LABELS = {  # name: (curve, label, coordinate size)
    "es384": (ec.SECP384R1(), b"tollgate test vector es384 key", 48),
    "es384-other": (ec.SECP384R1(), b"tollgate test vector es384 other key", 48),
    "es512": (ec.SECP521R1(), b"tollgate test vector es512 key", 66),
    "es512-other": (ec.SECP521R1(), b"tollgate test vector es512 other key", 66),
}
RSA_LABELS = {  # name: (label, modulus bits); "rsa-weak" is for the weak-key refusal
    "rsa": (b"tollgate test vector rsa key", 2048),
    "rsa-other": (b"tollgate test vector rsa other key", 2048),
    "rsa-weak": (b"tollgate test vector rsa weak key", 1024),
}
# Order of the P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CURVE_NAMES = {"secp384r1": "P-384", "secp521r1": "P-521"}
# RFC 7638 required members per key type.
THUMBPRINT_MEMBERS = {
    "oct": ("k", "kty"),
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict) -> str:
    members = {k: jwk[k] for k in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(canonical.encode("utf-8")).digest())


def pems(private_key) -> dict:
    return {
        "private_pem": private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
        "public_pem": private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii"),
    }


def asymmetric_entry(private_key, public_jwk: dict, private_members: dict) -> dict:
    kid = thumbprint(public_jwk)
    return {
        **pems(private_key),
        "private_jwk": {**public_jwk, **private_members},
        "public_jwk": {**public_jwk, "kid": kid},
        "kid": kid,
    }


def ed25519_entry(label: bytes) -> dict:
    seed = hashlib.sha256(label).digest()
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    raw_public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    public_jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw_public)}
    return asymmetric_entry(key, public_jwk, {"d": b64u(seed)})


def es256_entry(label: bytes) -> dict:
    d = int.from_bytes(hashlib.sha256(label).digest(), "big")
    assert 0 < d < P256_N, "P-256 scalar out of range"
    key = ec.derive_private_key(d, ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    public_jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64u(numbers.x.to_bytes(32, "big")),
        "y": b64u(numbers.y.to_bytes(32, "big")),
    }
    return asymmetric_entry(key, public_jwk, {"d": b64u(d.to_bytes(32, "big"))})


def ec_entry(curve, label: bytes, size: int) -> dict:
    # One bit fewer than the group order has: in range without a reduction.
    d = int.from_bytes(hashlib.sha512(label).digest() + hashlib.sha512(label + b"2").digest(), "big")
    d >>= 1024 - (curve.key_size - 1)
    key = ec.derive_private_key(d, curve)
    numbers = key.public_key().public_numbers()
    public_jwk = {
        "kty": "EC",
        "crv": CURVE_NAMES[curve.name],
        "x": b64u(numbers.x.to_bytes(size, "big")),
        "y": b64u(numbers.y.to_bytes(size, "big")),
    }
    return asymmetric_entry(key, public_jwk, {"d": b64u(d.to_bytes(size, "big"))})


class _Stream:
    """SHA-256(label || counter) blocks: the deterministic source of RSA key numbers."""

    def __init__(self, label: bytes):
        self.label, self.counter = label, 0

    def number(self, bits: int) -> int:
        out = b""
        while len(out) * 8 < bits:
            self.counter += 1
            out += hashlib.sha256(self.label + self.counter.to_bytes(8, "big")).digest()
        return int.from_bytes(out, "big") >> (len(out) * 8 - bits)


def _is_probable_prime(n: int, stream: _Stream) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(40):
        x = pow(stream.number(n.bit_length() - 1) % (n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(stream: _Stream, bits: int, e: int) -> int:
    # Top two bits set, so that p * q has exactly 2 * bits bits.
    p = stream.number(bits) | (3 << (bits - 2)) | 1
    while not (_is_probable_prime(p, stream) and (p - 1) % e != 0):
        p += 2
    return p


def rsa_entry(label: bytes, bits: int) -> dict:
    e, stream = 65537, _Stream(label)
    p = _prime(stream, bits // 2, e)
    q = _prime(stream, bits // 2, e)
    p, q = max(p, q), min(p, q)
    n, phi = p * q, (p - 1) * (q - 1)
    assert n.bit_length() == bits
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, n),
    )
    key = numbers.private_key()
    size = lambda i: b64u(i.to_bytes((i.bit_length() + 7) // 8, "big"))
    public_jwk = {"kty": "RSA", "n": size(n), "e": size(e)}
    private = {"d": size(d), "p": size(p), "q": size(q), "dp": size(numbers.dmp1),
               "dq": size(numbers.dmq1), "qi": size(numbers.iqmp)}
    return asymmetric_entry(key, public_jwk, private)


def hmac_entry(secret: str) -> dict:
    jwk = {"kty": "oct", "k": b64u(secret.encode("utf-8"))}
    return {"secret": secret, "jwk": jwk, "kid": thumbprint(jwk)}


def build() -> dict:
    keys = {name: hmac_entry(secret) for name, secret in HMAC_SECRETS.items()}
    keys.update({name: ed25519_entry(label) for name, label in ED25519_LABELS.items()})
    keys.update({name: es256_entry(label) for name, label in ES256_LABELS.items()})
    keys.update({name: ec_entry(*args) for name, args in EC_LABELS.items()})
    keys.update({name: rsa_entry(*args) for name, args in RSA_LABELS.items()})
    return keys


def main() -> None:
    default = Path(__file__).resolve().parent.parent / "keys.json"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out.write_text(json.dumps(build(), sort_keys=True, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
