"""Ed25519 signing keys, in the key files `trail keys new` writes (SPEC 1.9):
`{"type": "ed25519", "seed": "<hex32>", "public_key": "<hex32>", "did": "did:key:z6Mk..."}`,
mode 0600."""

import json
import os
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption,
                                                          PrivateFormat)

from . import codec
from .errors import TrailError

__all__ = ["SigningKey", "public_key_bytes", "MAX_KEY_FILE"]

MAX_KEY_FILE = 4096


def _key_file_error(message):
    return TrailError.named("invalid_key_file", message)


class SigningKey:
    """An Ed25519 key. The seed stays inside the `cryptography` key object (OpenSSL memory,
    cleansed when freed); `seed()` copies it out only for saving."""

    __slots__ = ("_private", "public_key", "did")

    def __init__(self, private):
        if not isinstance(private, Ed25519PrivateKey):
            raise TypeError("use SigningKey.generate(), .load(path) or .from_seed(seed)")
        self._private = private
        self.public_key = codec.raw_public_key(private)
        self.did = codec.did_key(self.public_key)

    @classmethod
    def generate(cls):
        """A new key from the operating system's secure random generator."""
        return cls(Ed25519PrivateKey.from_private_bytes(secrets.token_bytes(32)))

    @classmethod
    def from_seed(cls, seed):
        seed = bytes(seed)
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def load(cls, path):
        """Reads a key file; raises TrailError invalid_key_file (203) if it is not one (or its
        public_key does not match its seed), io (200) if it cannot be read."""
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_KEY_FILE + 1)
        except OSError as e:
            raise TrailError.named("io", "cannot read %s: %s" % (path, e.strerror)) from None
        if len(raw) > MAX_KEY_FILE:
            raise _key_file_error("%s is larger than %d bytes" % (path, MAX_KEY_FILE))
        return cls.from_key_file(raw)

    @classmethod
    def from_key_file(cls, data):
        """Parses the contents of a key file (bytes or text)."""
        try:
            o = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise _key_file_error("key file is not a JSON object") from None
        if not isinstance(o, dict):
            raise _key_file_error("key file is not a JSON object")
        if o.get("type") != "ed25519":
            raise _key_file_error("key file type must be ed25519")
        seed = _hex32(o.get("seed"))
        if seed is None:
            raise _key_file_error("key file seed must be 64 hex digits")
        key = cls.from_seed(seed)
        if "public_key" in o and _hex32(o["public_key"]) != key.public_key:
            raise _key_file_error("key file public_key does not match its seed")
        return key

    def key_file(self):
        """The key file's text (ends in a newline)."""
        return json.dumps({"type": "ed25519", "seed": self.seed().hex(),
                           "public_key": self.public_key.hex(), "did": self.did},
                          sort_keys=True) + "\n"

    def save(self, path, overwrite=False):
        """Writes the key file with mode 0600, atomically (a synced temporary file renamed
        into place). An existing file is an error unless `overwrite`."""
        path = os.fspath(path)
        if not overwrite and os.path.lexists(path):
            raise TrailError.named("io", "%s exists; pass overwrite=True to replace it" % path)
        folder = os.path.dirname(os.path.abspath(path))
        tmp = os.path.join(folder, ".tmp-key-%d-%s" % (os.getpid(), secrets.token_hex(8)))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.key_file())
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)  # whatever the umask
            if overwrite:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)  # fails if the path appeared meanwhile
                os.unlink(tmp)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return path

    def seed(self):
        """The 32-byte seed (a copy; keep it secret)."""
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, message):
        return self._private.sign(bytes(message))

    def __repr__(self):
        return "SigningKey(%s)" % self.did

    def __eq__(self, other):
        return isinstance(other, SigningKey) and other.public_key == self.public_key

    def __hash__(self):
        return hash(self.public_key)


def _hex32(value):
    if not isinstance(value, str) or len(value) != 64:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw


def public_key_bytes(who):
    """A 32-byte public key from a SigningKey, 32 bytes, 64 hex digits or a did:key."""
    if isinstance(who, SigningKey):
        return who.public_key
    if isinstance(who, (bytes, bytearray, memoryview)):
        raw = bytes(who)
        if len(raw) != 32:
            raise ValueError("a public key is 32 bytes")
        return raw
    if isinstance(who, str):
        if who.startswith("did:key:"):
            return codec.parse_did_key(who)
        raw = _hex32(who)
        if raw is None:
            raise ValueError("expected a did:key or 64 hex digits, got %r" % (who,))
        return raw
    raise TypeError("expected a SigningKey, public key bytes, hex or did:key")
