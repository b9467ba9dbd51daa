"""Ed25519 signing of a document's canonical statement. The key is held by the deployment:
derived from its secret key (``derive_key("documents.signing")``), or read from the PEM
file ``[plugins.documents] key_file`` names. Never stored in the database, so a copy of
the database cannot issue documents."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from core.toolkit import current_kernel, derive_key

PLUGIN = "documents"


class KeyFileError(RuntimeError):
    """The configured key file is missing or not an Ed25519 private key."""


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    public: Ed25519PublicKey
    key_id: str

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, statement: dict[str, Any]) -> str:
        return base64.b64encode(self.private.sign(canonical(statement))).decode("ascii")

    def verify(self, statement: dict[str, Any], signature: str) -> bool:
        """Whether ``signature`` (base64) is this key's over ``statement``."""
        try:
            raw = base64.b64decode(signature, validate=True)
            self.public.verify(raw, canonical(statement))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def canonical(statement: dict[str, Any]) -> bytes:
    """The bytes that are signed: JSON with sorted keys, no spaces, UTF-8 — so the same
    statement always gives the same bytes, whoever serialises it."""
    return json.dumps(statement, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def _load(settings: dict[str, Any], kernel: Any) -> Ed25519PrivateKey:
    path = settings.get("key_file") or ""
    if not path:
        return Ed25519PrivateKey.from_private_bytes(
            derive_key("documents.signing", kernel=kernel, length=32))
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(
            f"documents: cannot read the signing key [plugins.documents] key_file={path!r}: "
            f"{exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"documents: {path!r} is not an Ed25519 private key")
    return key


def signer(kernel: Any = None) -> Signer:
    """The deployment's signer, built once per app (kept in the kernel's state)."""
    kernel = kernel if kernel is not None else current_kernel()
    state = kernel.state(PLUGIN)
    found = state.get("signer")
    if found is None:
        private = _load(kernel.plugins.settings(PLUGIN), kernel)
        public = private.public_key()
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        found = Signer(private, public, hashlib.sha256(raw).hexdigest()[:16])
        state["signer"] = found
    return found
