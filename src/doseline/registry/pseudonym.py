"""Keyed pseudonyms for patient identifiers and DICOM UIDs (HMAC-SHA256, RFC 2104).

The deployment key (32 random bytes, hex in a file readable by its owner only) is made once by
``doseline init`` and never stored in the registry. The same identifier under the same key gives
the same pseudonym, in any file and any centre, so records link; without the key the
pseudonyms cannot be reversed or recomputed. UIDs are replaced by ``2.25.<integer>`` UIDs
derived from the same HMAC, the UUID-derived form of DICOM PS3.5 section B.2, as DICOM PS3.15
Annex E recommends for UID replacement.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from doseline.errors import ConfigurationError

__all__ = ["KEY_BYTES", "Pseudonymiser", "create_key_file", "load_key"]

KEY_BYTES = 32
_FINGERPRINT_LABEL = b"doseline key fingerprint v1"


def create_key_file(path: Path) -> Path:
    """Write a new random key to ``path`` (mode 0600). Refuses to overwrite an existing key."""
    path = Path(path)
    if path.exists():
        raise ConfigurationError(f"{path}: a deployment key exists already; it is kept as is")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    return path


def load_key(path: Path) -> bytes:
    """Read the deployment key; a clear error if it is missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise ConfigurationError(
            f"{path}: no deployment key. Run 'doseline init' to create one (or point "
            "DOSELINE_KEY_FILE to the key of this deployment)"
        )
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as error:
        raise ConfigurationError(f"{path}: the key file is not hexadecimal") from error
    if len(key) < KEY_BYTES:
        raise ConfigurationError(f"{path}: the key is shorter than {KEY_BYTES} bytes")
    return key


class Pseudonymiser:
    """Computes the keyed pseudonyms of one deployment."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ConfigurationError(f"the key must have at least {KEY_BYTES} bytes")
        self._key = key

    def _digest(self, domain: bytes, value: str) -> bytes:
        # The domain keeps a patient ID "123" and a UID "123" from sharing a pseudonym.
        return hmac.new(
            self._key, domain + b"\x00" + value.encode("utf-8"), hashlib.sha256
        ).digest()

    @property
    def fingerprint(self) -> str:
        """A value that identifies the key without revealing it (stored in the registry)."""
        return hmac.new(self._key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()

    def patient(self, patient_id: str, issuer: str | None = None) -> str:
        """Pseudonym (64 hex characters) of a patient identifier.

        Surrounding spaces are ignored. ``issuer`` scopes local identifiers that could clash
        between centres; leave it empty where identifiers are shared (a national number), so
        that records of one child link across centres.
        """
        normalised = patient_id.strip()
        if not normalised:
            raise ValueError("an empty patient identifier has no pseudonym")
        scope = (issuer or "").strip()
        value = f"{scope}\x1f{normalised}" if scope else normalised
        return self._digest(b"patient", value).hex()

    def uid(self, uid: str) -> str:
        """A ``2.25.<n>`` UID replacing ``uid`` (n is the first 128 bits of the HMAC)."""
        digest = self._digest(b"uid", uid.strip().rstrip("\x00"))
        return f"2.25.{int.from_bytes(digest[:16], 'big')}"

    def text(self, value: str, domain: str) -> str:
        """Pseudonym of another identifier (record numbers of tabular sources)."""
        return self._digest(domain.encode("utf-8"), value.strip()).hex()

    def date_shift_days(self, patient_pseudonym: str, max_days: int) -> int:
        """A per-patient date shift in ``[-max_days, max_days]``, never 0, derived from the key."""
        digest = self._digest(b"date shift", patient_pseudonym)
        magnitude = 1 + int.from_bytes(digest[:4], "big") % max_days
        return magnitude if digest[4] & 1 else -magnitude
