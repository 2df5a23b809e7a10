"""Error codes of protocol/SPEC.md, one table for the whole package.

Every rejection raises `TrailError(code, name, message)`; the numbers and names are those
of the SPEC (1.6 entries, 1.11 disclosures, 2.1 accountability, 2.2 protocol, 3.4 proofs
and notes, 4.3 bundles) and of the Swift `TrailError`. `FrameError` is the subclass for
the frame codec and the ERROR frames of SPEC 2.2.
"""

__all__ = [
    "TrailError", "FrameError", "ERRORS", "CODES", "ENTRY_ERRORS", "PROTOCOL_ERRORS",
    "error_name",
]

ERRORS = {
    # SPEC 1.6: entries
    1: "truncated",
    2: "trailing_bytes",
    3: "unsupported_version",
    4: "unknown_kind",
    5: "entry_too_large",
    6: "length_exceeds_limit",
    7: "invalid_utf8",
    8: "bad_signature_length",
    9: "invalid_enum",
    10: "reserved_bits_set",
    11: "empty_field",
    12: "invalid_prev",
    13: "invalid_value",
    20: "bad_signature",
    21: "bad_proof_of_possession",
    # SPEC 3.4: Merkle proofs, signed notes, checkpoints, tlog-proof
    30: "index_out_of_range",
    31: "invalid_tree_range",
    32: "wrong_proof_length",
    33: "root_mismatch",
    34: "malformed_note",
    35: "malformed_checkpoint",
    36: "invalid_tree_size",
    37: "invalid_hash",
    38: "invalid_verifier_key",
    39: "origin_mismatch",
    40: "unknown_key",
    41: "bad_note_signature",
    42: "malformed_tlog_proof",
    # SPEC 4.3: proof bundles
    50: "malformed_bundle",
    51: "malformed_statement",
    52: "log_key_mismatch",
    53: "statement_mismatch",
    54: "wrong_signer",
    55: "missing_entry",
    56: "entries_out_of_order",
    57: "duplicate_entry",
    58: "broken_link",
    59: "chain_truncated",
    60: "head_mismatch",
    # SPEC 2.4: accountability rules (status `rejected`)
    70: "already_registered",
    71: "not_owner",
    72: "agent_not_registered",
    73: "stale_policy_version",
    # SPEC 1.11: disclosure documents
    80: "malformed_disclosure",
    81: "disclosure_mismatch",
    82: "field_not_in_entry",
    83: "duplicate_field",
    # SPEC 2.2: the TCP protocol
    100: "frame_too_large",
    101: "unknown_frame_type",
    102: "malformed_frame",
    103: "unsupported_protocol",
    104: "hello_required",
    105: "batch_too_large",
    106: "too_many_connections",
    107: "idle_timeout",
    108: "shutting_down",
    109: "hello_timeout",
    110: "frame_timeout",
    201: "storage",
    # Local failures, never on the wire (the Swift TrailError uses the same numbers)
    200: "io",
    202: "invalid_argument",
    203: "invalid_key_file",
    205: "connection",
}
CODES = {name: code for code, name in ERRORS.items()}
ENTRY_ERRORS = frozenset(c for c in ERRORS if c <= 21)                       # SPEC 1.6
PROTOCOL_ERRORS = frozenset([100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 201])  # SPEC 2.2


def error_name(code):
    """The SPEC name of a code, or `code_<n>` for a number this package does not know."""
    return ERRORS.get(code, "code_%d" % code)


class TrailError(Exception):
    """A rejection with one code of the SPEC; `code`, `name` and `message`."""

    def __init__(self, code, name=None, message=""):
        if name is None:
            name = error_name(code)
        if error_name(code) != name:
            raise ValueError("inconsistent error code/name: %r %r" % (code, name))
        self.code = code
        self.name = name
        self.message = message
        super().__init__("%s (%d): %s" % (name, code, message))

    @classmethod
    def named(cls, name, message=""):
        return cls(CODES[name], name, message)


class FrameError(TrailError):
    """A frame the codec rejects, or an ERROR frame from a server (SPEC 2.2 codes)."""

    def __init__(self, code, name=None, message=""):
        if code not in PROTOCOL_ERRORS:
            raise ValueError("%r is not a SPEC 2.2 protocol error code" % (code,))
        super().__init__(code, name, message)
