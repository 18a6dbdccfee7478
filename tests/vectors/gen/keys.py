"""Write tests/vectors/keys.json: the fixed test keys every vector file refers to by name.

All keys derive from fixed strings, so the output is byte-for-byte deterministic:
HMAC secrets are literal strings, Ed25519 seeds and P-256 scalars are SHA-256 of a label.
Each key carries its JWK form(s) and `kid`, the RFC 7638 SHA-256 JWK thumbprint.
Usage: python keys.py [OUT]   (default: tests/vectors/keys.json next to this folder)
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

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
# Order of the P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# RFC 7638 required members per key type.
THUMBPRINT_MEMBERS = {"oct": ("k", "kty"), "OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}


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


def hmac_entry(secret: str) -> dict:
    jwk = {"kty": "oct", "k": b64u(secret.encode("utf-8"))}
    return {"secret": secret, "jwk": jwk, "kid": thumbprint(jwk)}


def build() -> dict:
    keys = {name: hmac_entry(secret) for name, secret in HMAC_SECRETS.items()}
    keys.update({name: ed25519_entry(label) for name, label in ED25519_LABELS.items()})
    keys.update({name: es256_entry(label) for name, label in ES256_LABELS.items()})
    return keys


def main() -> None:
    default = Path(__file__).resolve().parent.parent / "keys.json"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out.write_text(json.dumps(build(), sort_keys=True, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
