#!/usr/bin/env python3
"""Deterministically generate protocol/vectors/entries.json (SPEC 1.10).

All keys come from fixed seeds, all timestamps are fixed, and Ed25519 signing is
deterministic, so running this twice gives byte-identical output. Valid entries are
built with the reference encoder; invalid ones are assembled byte by byte (and
signed, so that only the intended defect triggers).
"""

import hashlib
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _tree  # noqa: E402,F401  (this tree's protocol/python first)

from agenttrail import codec as at  # noqa: E402

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "entries.json")
T0 = 1763900000000
ZERO = bytes(32)


def seed_of(name):
    return hashlib.sha256(b"agenttrail-vector-seed-" + name.encode()).digest()


def h(label):
    """A fixed 32-byte value standing in for some hash."""
    return hashlib.sha256(b"agenttrail-vector-hash-" + label.encode()).digest()


def hx(label):
    return h(label).hex()


SEEDS = {n: seed_of(n) for n in ["agent", "agent2", "owner", "observer", "chain", "mallory"]}
PUBS = {n: at.public_key(s) for n, s in SEEDS.items()}


# ---------------------------------------------------------------- valid vectors

valid = []


def add_valid(name, signer, kind, body, seq=0, prev=ZERO, agent=None):
    i = len(valid)
    entry = {
        "version": 1, "kind": kind, "signer": PUBS[signer].hex(), "seq": seq,
        "timestamp_ms": T0 + i, "prev": prev.hex(), "body": body,
    }
    agent_seed = SEEDS[agent] if agent else None
    data = at.encode(entry, SEEDS[signer], agent_seed=agent_seed)
    vec = {
        "name": name,
        "seed": SEEDS[signer].hex(),
        "entry": at.decode(data),
        "encoded": data.hex(),
        "entry_hash": at.entry_hash(data).hex(),
    }
    if agent_seed is not None:
        vec["agent_seed"] = agent_seed.hex()
    valid.append(vec)
    return data


def action(action_type, target="", content="content", flags=(), **opt):
    b = {"action_type": action_type, "target": target, "content_hash": hx(content),
         "flags": list(flags)}
    b.update(opt)
    return b


add_valid("action_minimal", "agent", "action", action("llm.generate"))

add_valid("action_all_fields", "agent", "action", action(
    "tool.call", "https://api.example.com/v1/orders?id=42", "all",
    flags=["human_review", "a2a_delegated", "error", "incomplete"],
    input_hash=hx("all-in"), output_hash=hx("all-out"), model_id="claude-sonnet-4-5",
    latency_ms=4294967295, tools=["search", "fetch_url", "python"], data_class="pii",
    request_commitment=hx("all-req")))

add_valid("action_some_optionals", "agent", "action", action(
    "file.write", "/srv/reports/q3.md", "some", flags=["a2a_delegated", "incomplete"],
    output_hash=hx("some-out"), latency_ms=0, data_class="internal"))

add_valid("action_only_tools", "agent2", "action", action(
    "plan", "", "tools-only", flags=["error"], tools=["x"]))

prev = ZERO
for i in range(3):
    data = add_valid("action_chain_seq%d" % i, "chain", "action",
                     action("chain.step", "step-%d" % i, "chain-%d" % i,
                            request_commitment=hx("chain-req")),
                     seq=i, prev=prev)
    prev = at.entry_hash(data)

add_valid("action_max_lengths", "agent2", "action", action(
    "a" * 64, "t" * 512, "max", flags=["human_review"],
    model_id="m" * 128, tools=["%02d" % i + "k" * 62 for i in range(32)], data_class="d" * 32))

add_valid("action_utf8_text", "agent2", "action", action(
    "übersetzen.日本", "Grüße ✓ 日本", "utf8", model_id="modèle-✓", tools=["σ", "😀"],
    data_class="機密"))


def receipt(outcome, stages, tag, started=T0 - 5000, total=4321):
    return {"request_commitment": hx(tag + "-req"), "outcome": outcome, "started_ms": started,
            "total_ms": total, "trace_commitment": hx(tag + "-trace"), "stages": stages}


add_valid("receipt_no_stages", "agent", "receipt", receipt("ok", [], "r0"))
add_valid("receipt_three_stages", "agent2", "receipt", receipt("error", [
    {"label": "plan", "duration_ms": 120, "status": "ok"},
    {"label": "tool:search", "duration_ms": 3000, "status": "error"},
    {"label": "summarize ✓", "duration_ms": 0, "status": "skipped"},
], "r3"))
add_valid("receipt_denied", "agent", "receipt",
          receipt("denied", [{"label": "policy", "duration_ms": 1, "status": "error"}], "rd",
                  started=0, total=0))
add_valid("receipt_checkpoint_max_stages", "agent2", "receipt", receipt(
    "checkpoint",
    [{"label": "s%02d" % i, "duration_ms": i * 1000, "status": ["ok", "error", "skipped"][i % 3]}
     for i in range(64)], "rc", total=4294967295))

add_valid("registration_no_evidence", "owner", "registration",
          {"agent": PUBS["agent"].hex(), "label": "support-bot"}, agent="agent")
add_valid("registration_with_evidence", "owner", "registration",
          {"agent": PUBS["agent2"].hex(), "label": "", "evidence_hash": hx("attestation")},
          agent="agent2")
add_valid("registration_max_label", "owner", "registration",
          {"agent": PUBS["observer"].hex(), "label": "L" * 126 + "é"}, agent="observer")


def policy(version, allow_actions, deny_actions, allow_targets, max_per_minute, agent="agent"):
    return {"agent": PUBS[agent].hex(), "version": version, "document_hash": hx("policy-%d" % version),
            "allow_actions": allow_actions, "deny_actions": deny_actions,
            "allow_targets": allow_targets, "max_per_minute": max_per_minute}


add_valid("policy_lists", "owner", "policy", policy(
    3, ["llm.generate", "tool.call"], ["file.delete"],
    ["https://api.example.com/*", "/srv/reports/*"], 60))
add_valid("policy_empty_lists", "owner", "policy", policy(1, [], [], [], 0, agent="agent2"))


def max_policy_targets(total_size):
    """allow_targets so that a policy entry is exactly total_size bytes."""
    # entry = 86 + body + 2 + 64; body = 32 + 4 + 32 + 1 + 1 + (1 + targets) + 4
    budget = total_size - (86 + 2 + 64) - (32 + 4 + 32 + 1 + 1 + 1 + 4)
    items = []
    while budget > 0:
        n = min(256, budget - 2)
        items.append(("%03d" % len(items)) + "*" * (n - 3))
        budget -= n + 2
    assert budget == 0 and len(items) <= 64
    return items


add_valid("policy_max_entry_size", "owner", "policy",
          policy(0xFFFFFFFF, [], [], max_policy_targets(at.MAX_ENTRY_SIZE), 0xFFFFFFFF))
assert len(bytes.fromhex(valid[-1]["encoded"])) == at.MAX_ENTRY_SIZE


def report(category, severity, frm, to, description, ref=None, subject="agent"):
    b = {"subject": PUBS[subject].hex(), "category": category, "severity": severity,
         "observed_from_ms": frm, "observed_to_ms": to, "evidence_hash": hx("ev-" + category),
         "description": description}
    if ref is not None:
        b["ref_entry"] = ref
    return b


add_valid("report_unlogged_action_low", "observer", "report",
          report("unlogged_action", "low", T0 - 60000, T0, "outbound call with no action entry"))
add_valid("report_policy_violation_medium_ref", "observer", "report",
          report("policy_violation", "medium", T0, T0, "denied action attempted",
                 ref=valid[1]["entry_hash"]))
add_valid("report_harmful_output_high", "observer", "report",
          report("harmful_output", "high", 0, 18446744073709551615, "", ref=hx("some-entry"),
                 subject="agent2"))
add_valid("report_misrepresentation_critical", "observer", "report",
          report("misrepresentation", "critical", T0 - 1, T0, "Grüße ✓ 日本 🚀"))
add_valid("report_other_max_description", "observer", "report",
          report("other", "low", 5, 6, "x" * 1021 + "✓"))


# -------------------------------------------------------------- invalid vectors

invalid = []


def add_invalid(name, data, error):
    invalid.append({"name": name, "encoded": bytes(data).hex(), "error": error,
                    "code": at.CODES[error]})


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def s(raw):
    """str from raw bytes (may be invalid UTF-8 or over the limit)."""
    if isinstance(raw, str):
        raw = raw.encode()
    return u16(len(raw)) + raw


def lst(items):
    return u8(len(items)) + b"".join(s(x) for x in items)


def sign(seed, msg):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(msg)


def assemble(kind, body, signer="agent", seq=0, prev=ZERO, version=1, body_len=None,
             sig_len=64, sig_bytes=None, suffix=b"", ts=None, sign_with=None,
             message_prefix=at.ENTRY_DOMAIN):
    """Raw entry bytes, signed over exactly what is emitted before sig_len."""
    if ts is None:
        ts = T0 + 1000 + len(invalid)
    unsigned = (u8(version) + u8(kind) + PUBS[signer] + u64(seq) + u64(ts) + prev
                + u32(len(body) if body_len is None else body_len) + body)
    sig = sign(SEEDS[sign_with or signer], message_prefix + unsigned)
    if sig_bytes is not None:
        sig = sig_bytes(sig)
    return unsigned + u16(sig_len) + sig + suffix


def action_body(action_type=b"tool.call", target=b"", present=0, flags=0, tail=b""):
    return s(action_type) + s(target) + h("inv-content") + u8(present) + u8(flags) + tail


def receipt_body(outcome=0, stages=(), count=None):
    out = h("inv-req") + u8(outcome) + u64(T0) + u32(10) + h("inv-trace")
    out += u8(len(stages) if count is None else count)
    for label, dur, status in stages:
        out += s(label) + u32(dur) + u8(status)
    return out


def registration_body(agent="agent", label=b"bot", tag=0, evidence=None, proof=None,
                      owner="owner"):
    if proof is None:
        proof = at.registration_proof(SEEDS[agent], PUBS[owner])
    out = PUBS[agent] + s(label) + u8(tag)
    if evidence is not None:
        out += evidence
    return out + proof


def policy_body(version=1, allow_actions=(), deny_actions=(), allow_targets=(), raw_lists=None):
    lists = raw_lists if raw_lists is not None else (
        lst(allow_actions) + lst(deny_actions) + lst(allow_targets))
    return PUBS["agent"] + u32(version) + h("inv-doc") + lists + u32(0)


def report_body(category=0, severity=0, frm=T0, to=T0, ref_tag=0, ref=b"", description=b""):
    return (PUBS["agent"] + u8(category) + u8(severity) + u64(frm) + u64(to) + u8(ref_tag)
            + ref + h("inv-ev") + s(description))


good = assemble(1, action_body())              # a well-formed, signed action
good_body_len = len(action_body())
assert at.verify(good)

# 1 truncated
add_invalid("truncated_empty", b"", "truncated")
add_invalid("truncated_version_only", b"\x01", "truncated")
add_invalid("truncated_header_50", good[:50], "truncated")
add_invalid("truncated_header_in_prev", good[:81], "truncated")
add_invalid("truncated_before_body_len", good[:82], "truncated")
add_invalid("truncated_in_body_len", good[:84], "truncated")
add_invalid("truncated_body", good[:86 + good_body_len - 1], "truncated")
add_invalid("truncated_before_sig_len", good[:86 + good_body_len], "truncated")
add_invalid("truncated_in_sig_len", good[:86 + good_body_len + 1], "truncated")
add_invalid("truncated_signature", good[:-1], "truncated")
add_invalid("truncated_signature_half", good[:-32], "truncated")
add_invalid("truncated_body_len_huge", assemble(1, action_body(), body_len=0xFFFFFFFF),
            "truncated")
add_invalid("truncated_field_inside_body",
            assemble(1, u16(10) + b"abc"), "truncated")
add_invalid("truncated_hash_inside_body", assemble(1, action_body(present=0x01, tail=b"\x11" * 31)),
            "truncated")
add_invalid("truncated_stage_inside_body",
            assemble(2, receipt_body(stages=[("plan", 1, 0)], count=2)), "truncated")
add_invalid("truncated_body_missing_flags", assemble(1, action_body()[:-1]), "truncated")

# 2 trailing_bytes
add_invalid("trailing_byte_after_signature", good + b"\x00", "trailing_bytes")
add_invalid("trailing_bytes_after_signature_64", good + good[-64:], "trailing_bytes")
add_invalid("trailing_byte_in_body", assemble(1, action_body() + b"\x00"), "trailing_bytes")
add_invalid("trailing_bytes_in_registration_body",
            assemble(3, registration_body() + b"\x00\x00", signer="owner"), "trailing_bytes")
add_invalid("trailing_byte_in_report_body", assemble(5, report_body() + b"\x01"),
            "trailing_bytes")

# 3 unsupported_version
add_invalid("version_2", assemble(1, action_body(), version=2), "unsupported_version")
add_invalid("version_0", assemble(1, action_body(), version=0), "unsupported_version")
add_invalid("version_255_kind_9", assemble(9, action_body(), version=255), "unsupported_version")
add_invalid("version_2_only", b"\x02", "unsupported_version")

# 4 unknown_kind
add_invalid("kind_0", assemble(0, action_body()), "unknown_kind")
add_invalid("kind_6", assemble(6, action_body()), "unknown_kind")
add_invalid("kind_255", assemble(255, action_body()), "unknown_kind")
add_invalid("kind_6_truncated_header", b"\x01\x06", "unknown_kind")

# 5 entry_too_large
big_body = policy_body(raw_lists=b"\x00\x00" + lst(max_policy_targets(at.MAX_ENTRY_SIZE + 1)))
big = assemble(4, big_body, signer="owner")
assert len(big) == at.MAX_ENTRY_SIZE + 1
add_invalid("entry_16385_bytes_policy", big, "entry_too_large")
add_invalid("entry_16385_bytes_version_2", b"\x02" + big[1:], "entry_too_large")
add_invalid("entry_16385_zero_bytes", bytes(at.MAX_ENTRY_SIZE + 1), "entry_too_large")

# 6 length_exceeds_limit
E6 = "length_exceeds_limit"
add_invalid("action_type_65", assemble(1, action_body(b"a" * 65)), E6)
add_invalid("action_type_len_65535_short_body",
            assemble(1, u16(0xFFFF) + b"abc"), E6)
add_invalid("target_513", assemble(1, action_body(target=b"t" * 513)), E6)
add_invalid("model_id_129", assemble(1, action_body(present=0x04, tail=s(b"m" * 129))), E6)
add_invalid("tools_count_33",
            assemble(1, action_body(present=0x10, tail=lst([b"t"] * 33))), E6)
add_invalid("tools_count_255_short_body",
            assemble(1, action_body(present=0x10, tail=u8(255))), E6)
add_invalid("tool_item_65", assemble(1, action_body(present=0x10, tail=lst([b"ok", b"x" * 65]))), E6)
add_invalid("data_class_33", assemble(1, action_body(present=0x20, tail=s(b"d" * 33))), E6)
add_invalid("stages_count_65",
            assemble(2, receipt_body(stages=[("s", 1, 0)] * 65)), E6)
add_invalid("stage_label_65", assemble(2, receipt_body(stages=[("l" * 65, 1, 0)])), E6)
add_invalid("registration_label_129",
            assemble(3, registration_body(label=b"L" * 129), signer="owner"), E6)
add_invalid("policy_allow_actions_65",
            assemble(4, policy_body(allow_actions=[b"a"] * 65), signer="owner"), E6)
add_invalid("policy_deny_action_65",
            assemble(4, policy_body(deny_actions=[b"d" * 65]), signer="owner"), E6)
add_invalid("policy_allow_target_257",
            assemble(4, policy_body(allow_targets=[b"*" * 257]), signer="owner"), E6)
add_invalid("report_description_1025",
            assemble(5, report_body(description=b"x" * 1025), signer="observer"), E6)

# 7 invalid_utf8
E7 = "invalid_utf8"
add_invalid("utf8_action_type_c3_28", assemble(1, action_body(b"ab\xc3\x28")), E7)
add_invalid("utf8_target_overlong_c0_af", assemble(1, action_body(target=b"/\xc0\xaf")), E7)
add_invalid("utf8_description_surrogate_ed_a0_80",
            assemble(5, report_body(description=b"x\xed\xa0\x80"), signer="observer"), E7)
add_invalid("utf8_model_id_ff", assemble(1, action_body(present=0x04, tail=s(b"\xff"))), E7)
add_invalid("utf8_tool_truncated_sequence",
            assemble(1, action_body(present=0x10, tail=lst([b"\xe6\x97"]))), E7)
add_invalid("utf8_data_class_above_10ffff",
            assemble(1, action_body(present=0x20, tail=s(b"\xf4\x90\x80\x80"))), E7)
add_invalid("utf8_stage_label_overlong_e0_80_af",
            assemble(2, receipt_body(stages=[(b"\xe0\x80\xaf", 1, 0)])), E7)
add_invalid("utf8_registration_label_lone_continuation",
            assemble(3, registration_body(label=b"\x80"), signer="owner"), E7)
add_invalid("utf8_policy_target_c0_80",
            assemble(4, policy_body(allow_targets=[b"a\xc0\x80"]), signer="owner"), E7)

# 8 bad_signature_length
E8 = "bad_signature_length"
add_invalid("sig_len_63", assemble(1, action_body(), sig_len=63, sig_bytes=lambda g: g[:63]), E8)
add_invalid("sig_len_65", assemble(1, action_body(), sig_len=65, sig_bytes=lambda g: g + b"\x00"), E8)
add_invalid("sig_len_0", assemble(1, action_body(), sig_len=0, sig_bytes=lambda g: b""), E8)
add_invalid("sig_len_65535_with_64_bytes", assemble(1, action_body(), sig_len=0xFFFF), E8)

# 9 invalid_enum
E9 = "invalid_enum"
add_invalid("receipt_outcome_4", assemble(2, receipt_body(outcome=4)), E9)
add_invalid("receipt_outcome_255", assemble(2, receipt_body(outcome=255)), E9)
add_invalid("stage_status_3", assemble(2, receipt_body(stages=[("a", 1, 0), ("b", 2, 3)])), E9)
add_invalid("report_category_5", assemble(5, report_body(category=5), signer="observer"), E9)
add_invalid("report_severity_4", assemble(5, report_body(severity=4), signer="observer"), E9)

# 10 reserved_bits_set
E10 = "reserved_bits_set"
add_invalid("action_present_bit_7", assemble(1, action_body(present=0x80)), E10)
add_invalid("action_flags_bit_4", assemble(1, action_body(flags=0x10)), E10)
add_invalid("action_flags_bit_7", assemble(1, action_body(flags=0x8F)), E10)

# 11 empty_field
E11 = "empty_field"
add_invalid("action_type_empty", assemble(1, action_body(b"")), E11)
add_invalid("tools_present_count_0", assemble(1, action_body(present=0x10, tail=u8(0))), E11)
add_invalid("model_id_present_empty", assemble(1, action_body(present=0x04, tail=s(b""))), E11)
add_invalid("tool_item_empty", assemble(1, action_body(present=0x10, tail=lst([b"a", b""]))), E11)
add_invalid("data_class_present_empty", assemble(1, action_body(present=0x20, tail=s(b""))), E11)
add_invalid("stage_label_empty", assemble(2, receipt_body(stages=[("", 1, 0)])), E11)
add_invalid("policy_allow_action_empty",
            assemble(4, policy_body(allow_actions=[b""]), signer="owner"), E11)
add_invalid("policy_allow_target_empty",
            assemble(4, policy_body(allow_targets=[b"x", b""]), signer="owner"), E11)

# 12 invalid_prev
add_invalid("seq_0_nonzero_prev", assemble(1, action_body(), seq=0, prev=h("prev")), "invalid_prev")
add_invalid("seq_1_zero_prev", assemble(1, action_body(), seq=1, prev=ZERO), "invalid_prev")
add_invalid("seq_max_zero_prev", assemble(1, action_body(), seq=2 ** 64 - 1, prev=ZERO),
            "invalid_prev")
add_invalid("seq_0_nonzero_prev_before_body",
            assemble(1, b"\xff" * 5, seq=0, prev=b"\x00" * 31 + b"\x01"), "invalid_prev")

# 13 invalid_value
E13 = "invalid_value"
add_invalid("registration_evidence_tag_2",
            assemble(3, registration_body(tag=2, evidence=h("ev")), signer="owner"), E13)
add_invalid("report_ref_tag_2",
            assemble(5, report_body(ref_tag=2, ref=h("ref")), signer="observer"), E13)
add_invalid("policy_version_0", assemble(4, policy_body(version=0), signer="owner"), E13)
add_invalid("report_observed_to_before_from",
            assemble(5, report_body(frm=T0, to=T0 - 1), signer="observer"), E13)

# 20 bad_signature (well-formed, signature does not verify)
E20 = "bad_signature"
add_invalid("signature_bit_flipped", good[:-64] + bytes([good[-64] ^ 0x01]) + good[-63:], E20)
add_invalid("signature_last_bit_flipped", good[:-1] + bytes([good[-1] ^ 0x40]), E20)
hpos = 86 + len(s(b"tool.call")) + len(s(b""))     # content_hash offset
add_invalid("content_hash_bit_flipped_after_signing",
            good[:hpos] + bytes([good[hpos] ^ 0x80]) + good[hpos + 1:], E20)
add_invalid("timestamp_changed_after_signing", good[:42] + bytes([good[42] ^ 1]) + good[43:], E20)
add_invalid("signed_by_other_key", assemble(1, action_body(), sign_with="mallory"), E20)
add_invalid("signed_without_domain", assemble(1, action_body(), message_prefix=b""), E20)
add_invalid("signed_domain_without_zero_byte",
            assemble(1, action_body(), message_prefix=b"AgentTrail/entry/v1"), E20)
add_invalid("signature_all_zero", assemble(1, action_body(), sig_bytes=lambda g: bytes(64)), E20)
add_invalid("registration_bad_entry_signature",
            assemble(3, registration_body(), signer="owner", sign_with="agent"), E20)

# 21 bad_proof_of_possession (entry signature valid)
E21 = "bad_proof_of_possession"
add_invalid("registration_proof_by_wrong_key", assemble(3, registration_body(
    proof=sign(SEEDS["mallory"], at.REGISTRATION_DOMAIN + PUBS["owner"] + PUBS["agent"])),
    signer="owner"), E21)
add_invalid("registration_proof_by_owner_key", assemble(3, registration_body(
    proof=sign(SEEDS["owner"], at.REGISTRATION_DOMAIN + PUBS["owner"] + PUBS["agent"])),
    signer="owner"), E21)
add_invalid("registration_proof_keys_swapped", assemble(3, registration_body(
    proof=sign(SEEDS["agent"], at.REGISTRATION_DOMAIN + PUBS["agent"] + PUBS["owner"])),
    signer="owner"), E21)
add_invalid("registration_proof_for_other_owner",
            assemble(3, registration_body(owner="mallory"), signer="owner"), E21)
add_invalid("registration_proof_with_entry_domain", assemble(3, registration_body(
    proof=sign(SEEDS["agent"], at.ENTRY_DOMAIN + PUBS["owner"] + PUBS["agent"])),
    signer="owner"), E21)
add_invalid("registration_proof_with_evidence_wrong_key", assemble(3, registration_body(
    agent="agent2", tag=1, evidence=h("ev"),
    proof=sign(SEEDS["agent"], at.REGISTRATION_DOMAIN + PUBS["owner"] + PUBS["agent2"])),
    signer="owner"), E21)


def main():
    names = [v["name"] for v in valid] + [v["name"] for v in invalid]
    assert len(names) == len(set(names)), "duplicate vector names"
    doc = {"valid": valid, "invalid": invalid}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %s: %d valid, %d invalid" % (os.path.normpath(OUT), len(valid), len(invalid)))


if __name__ == "__main__":
    main()
