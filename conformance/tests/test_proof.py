"""Proof that the suite can fail: each switch of the misbehaving target breaks
one rule; the cases mapped to that rule fail with it and pass without it."""
import json

import pytest

from mqws_conformance import cli

# switch -> (scope: --only patterns, cases that must fail or be non-strict,
#            exact: True when nothing else in the scope may deviate)
PROOF = {
    "text_ok": (["binary", "vec.stream-*"], {
        "vec.stream-text-after-packet", "vec.stream-empty-text-frame", "binary.connect-in-text-frame",
        "binary.connect-in-text-frame-bad-utf8", "binary.text-after-connack", "binary.fragmented-text"}, True),
    "send_text": (["binary"], {"binary.server-sends-binary"}, True),
    "echo_list": (["subprotocol"], {
        "vec.hs-proto-mqtt-legacy-list", "vec.hs-proto-legacy-first", "vec.hs-proto-two-headers",
        "subprotocol.mqtt-then-legacy", "subprotocol.legacy-then-mqtt", "subprotocol.two-fields",
        "subprotocol.odd-whitespace", "subprotocol.three-values"}, False),
    "prefer_legacy": (["subprotocol"], {
        "vec.hs-proto-mqtt-legacy-list", "vec.hs-proto-legacy-first", "vec.hs-legacy-both",
        "vec.hs-legacy-both-reversed", "subprotocol.mqtt-then-legacy", "subprotocol.legacy-then-mqtt",
        "subprotocol.legacy-only"}, True),
    "bad_accept": (["handshake", "subprotocol"], {"vec.hs-basic", "vec.hs-other-key", "handshake.accept-several-keys",
                                   "handshake.response-fields", "handshake.split-writes"}, False),
    "any_version": (["handshake"], {"vec.hs-version-8", "vec.hs-version-missing", "vec.hs-version-14",
                                    "handshake.version-8-426"}, True),
    "lenient_http": (["handshake"], {"vec.hs-method-post", "vec.hs-http-1-0", "vec.hs-host-twice",
                                     "vec.hs-key-15-bytes", "vec.hs-malformed-space-before-colon",
                                     "handshake.non-get"}, False),
    "unmasked_ok": (["framing"], {"vec.ws-unmasked-ping-to-server", "framing.unmasked-binary"}, True),
    "rsv_ok": (["framing"], {
        "vec.ws-masked-rsv2", "vec.ws-masked-opcode-3", "vec.ws-masked-opcode-b", "framing.rsv1", "framing.rsv2",
        "framing.rsv3", "framing.opcode-3", "framing.opcode-7", "framing.opcode-b", "framing.opcode-f"}, True),
    "masked_server": (["framing"], {"framing.server-frames-unmasked"}, True),
    "no_pong": (["framing", "reassembly.continuation*"], {
        "framing.ping-answered", "reassembly.continuation-with-pings.v4",
        "reassembly.continuation-with-pings.v5"}, True),
    "close_no_echo": (["close", "framing"], {
        "vec.ws-masked-close-1000", "vec.ws-masked-close-empty", "close.echo-1000", "close.echo-4000",
        "close.echo-empty", "close.nothing-after-close"}, True),
    "odd_split": (["reassembly", "binary", "mqtt.*", "mqtt5.*"], set(), True),
    "accept_invalid_packets": (["vec.mqtt4-*", "vec.mqtt5-*"], {
        "vec.mqtt4-type-0-reserved", "vec.mqtt4-connect-reserved-flag", "vec.mqtt4-publish-dup-qos0",
        "vec.mqtt5-connect-will-qos-3", "vec.mqtt5-publish-qos2-packet-id-0"}, False),
    "qos2_dup": (["mqtt.qos2*"], {"mqtt.qos2-no-duplicate.v4", "mqtt.qos2-no-duplicate.v5"}, True),
    "no_will": (["close", "mqtt5.will*"], {
        "mqtt5.will-retained", "close.ws-close-triggers-will.v4", "close.ws-close-triggers-will.v5",
        "close.tcp-close-triggers-will.v4", "close.tcp-close-triggers-will.v5",
        "close.disconnect-with-will-0x04.v5", "mqtt5.will-delay-elapsed"}, True),
    "will_on_disconnect": (["close"], {"close.disconnect-discards-will.v4",
                                       "close.disconnect-discards-will.v5"}, True),
    "no_keepalive": (["mqtt.keepalive*"], {"mqtt.keepalive-enforced.v4", "mqtt.keepalive-enforced.v5"}, True),
    "no_retain": (["mqtt.retained*", "mqtt5.retain*", "mqtt5.will*"], {
        "mqtt5.will-retained", "mqtt5.retain-handling-0", "mqtt5.retain-handling-1",
        "mqtt.retained-delivered.v4", "mqtt.retained-delivered.v5"}, True),
    "no_redelivery": (["mqtt.qos*", "mqtt.session*"], {
        "mqtt.qos1-redelivery-after-reconnect.v4", "mqtt.qos1-redelivery-after-reconnect.v5",
        "mqtt.qos2-pubrel-after-reconnect.v4", "mqtt.qos2-pubrel-after-reconnect.v5"}, True),
    "no_dup_flag": (["mqtt.qos*"], {"mqtt.qos1-redelivery-after-reconnect.v4",
                                    "mqtt.qos1-redelivery-after-reconnect.v5"}, True),
    "ignore_receive_max": (["mqtt5.*"], {"mqtt5.receive-maximum"}, True),
    "ignore_max_packet": (["mqtt5.*"], {"mqtt5.maximum-packet-size"}, True),
    "ignore_no_local": (["mqtt5.*"], {"mqtt5.no-local"}, True),
    "no_sub_ids": (["mqtt5.*"], {"mqtt5.subscription-identifier", "mqtt5.subscription-identifiers-overlap"}, True),
    "no_sessions": (["mqtt.*", "mqtt5.*"], {
        "mqtt5.session-expiry-resume", "mqtt5.message-expiry", "mqtt.qos1-redelivery-after-reconnect.v4",
        "mqtt.qos1-redelivery-after-reconnect.v5", "mqtt.qos2-pubrel-after-reconnect.v4",
        "mqtt.qos2-pubrel-after-reconnect.v5", "mqtt.session-resume.v4", "mqtt.session-resume.v5",
        "mqtt5.will-delay-reconnect"}, True),
    "second_connect_ok": (["close"], {"close.second-connect.v4", "close.second-connect.v5"}, True),
    "first_packet_any": (["close"], {"close.first-packet-not-connect.v4", "close.first-packet-not-connect.v5"}, True),
    "qos3_ok": (["close"], {"close.protocol-error.v4", "close.protocol-error.v5"}, True),
    "plus_multilevel": (["mqtt.wildcards*", "mqtt.dollar*"], {"mqtt.wildcards.v4", "mqtt.wildcards.v5"}, True),
    "dollar_match": (["mqtt.wildcards*", "mqtt.dollar*"], {"mqtt.dollar-topics.v4", "mqtt.dollar-topics.v5"}, True),
    "keep_unsubscribed": (["mqtt.unsubscribe*"], {"mqtt.unsubscribe.v4", "mqtt.unsubscribe.v5"}, True),
    "no_takeover": (["mqtt.client-takeover*"], {"mqtt.client-takeover.v4", "mqtt.client-takeover.v5"}, True),
    "alias_unchecked": (["mqtt5.topic-alias*"], {"mqtt5.topic-alias-zero", "mqtt5.topic-alias-over-maximum"}, True),
    "no_message_expiry": (["mqtt5.message-expiry"], {"mqtt5.message-expiry"}, True),
    "sessions_never_expire": (["mqtt5.session*"], {"mqtt5.session-expiry-zero", "mqtt5.session-expiry-elapsed"},
                              True),
    "no_assigned_id": (["mqtt5.assigned-client-id"], {"mqtt5.assigned-client-id"}, True),
    "drop_user_properties": (["mqtt5.properties-forwarded"], {"mqtt5.properties-forwarded"}, True),
    "no_qos_downgrade": (["mqtt.qos*"], {"mqtt.qos-downgrade.v4", "mqtt.qos-downgrade.v5"}, True),
    "retain_flag_forwarded": (["mqtt.retained*", "mqtt5.retain-as-published*"], {
        "mqtt.retained-live-flag.v4", "mqtt.retained-live-flag.v5", "mqtt5.retain-as-published-0"}, True),
    "empty_retained_kept": (["mqtt.retained*"], {"mqtt.retained-cleared.v4", "mqtt.retained-cleared.v5"}, True),
    "early_keepalive": (["mqtt.keepalive-enforced*"], {"mqtt.keepalive-enforced.v4",
                                                       "mqtt.keepalive-enforced.v5"}, True),
    "suback_wrong_id": (["mqtt.suback-order*", "mqtt5.suback*"], {
        "mqtt.suback-order.v4", "mqtt.suback-order.v5", "mqtt5.suback-reason-codes"}, True),
    "pubcomp_no_reason": (["mqtt5.pubrel-unknown-id"], {"mqtt5.pubrel-unknown-id"}, True),
    "one_packet_per_frame": (["reassembly"], {
        "reassembly.several-in-one-frame.v4", "reassembly.several-in-one-frame.v5",
        "vec.stream-many-per-frame"}, False),
    "packet_per_message": (["reassembly"], {
        "reassembly.connect-one-byte-messages", "reassembly.connect-every-split.v4",
        "reassembly.connect-every-split.v5", "reassembly.publish-every-split.v4",
        "reassembly.publish-every-split.v5", "reassembly.straddling-packets.v4",
        "reassembly.straddling-packets.v5"}, False),
    "no_fragments": (["reassembly.connect-one-byte-frames", "reassembly.continuation*", "reassembly.publish-1mib*"], {
        "reassembly.connect-one-byte-frames", "reassembly.continuation-with-pings.v4",
        "reassembly.continuation-with-pings.v5", "reassembly.publish-1mib-64k-fragments.v4",
        "reassembly.publish-1mib-64k-fragments.v5"}, True),
    "control_unchecked": (["framing.ping-126*", "framing.fragmented-ping", "framing.close-126*"], {
        "framing.ping-126-bytes", "framing.fragmented-ping", "framing.close-126-bytes"}, True),
    "continuation_unchecked": (["framing.continuation-first", "framing.binary-inside-fragmented"], {
        "framing.continuation-first", "framing.binary-inside-fragmented"}, True),
    "length_unchecked": (["framing"], {"framing.length-64-non-minimal", "vec.ws-masked-len16-non-minimal"}, True),
    "close_code_unchecked": (["framing.close-code*"], {"framing.close-code-1005", "framing.close-code-999"}, True),
    "empty_frame_refused": (["framing.empty-binary-frames"], {"framing.empty-binary-frames"}, True),
    "session_present_always": (["mqtt.session-present-clean*", "mqtt.clean-start*"], {
        "mqtt.session-present-clean.v4", "mqtt.session-present-clean.v5", "mqtt.clean-start-discards.v4",
        "mqtt.clean-start-discards.v5"}, True),
    "ping_no_reset": (["mqtt.keepalive-pings*"], {"mqtt.keepalive-pings.v4", "mqtt.keepalive-pings.v5"}, True),
    "reorder": (["mqtt.order*"], {"mqtt.order.v4", "mqtt.order.v5"}, True),
    "no_unsuback_unknown": (["mqtt.unsubscribe-unknown*"], {"mqtt.unsubscribe-unknown.v4",
                                                            "mqtt.unsubscribe-unknown.v5"}, True),
    "unsuback_no_reason": (["mqtt5.unsuback-reason-codes"], {"mqtt5.unsuback-reason-codes"}, True),
    "alias_forgotten": (["mqtt5.topic-alias"], {"mqtt5.topic-alias"}, True),
    "alias_shared": (["mqtt5.topic-alias-per-connection"], {"mqtt5.topic-alias-per-connection"}, True),
    "server_alias": (["mqtt5.no-server-alias-without-maximum"], {"mqtt5.no-server-alias-without-maximum"}, True),
    "retain_handling_ignored": (["mqtt5.retain-handling*"], {"mqtt5.retain-handling-1",
                                                             "mqtt5.retain-handling-2"}, True),
    "rap_ignored": (["mqtt5.retain-as-published*"], {"mqtt5.retain-as-published-1"}, True),
    "qos0_dup": (["mqtt.qos0-delivery*"], {"mqtt.qos0-delivery.v4", "mqtt.qos0-delivery.v5"}, True),
    "puback_wrong_id": (["mqtt.qos1-delivery*"], {"mqtt.qos1-delivery.v4", "mqtt.qos1-delivery.v5"}, True),
    "no_pubcomp": (["mqtt.qos2-delivery*"], {"mqtt.qos2-delivery.v4", "mqtt.qos2-delivery.v5"}, True),
    "echo_extensions": (["handshake.unknown-extension"], {"handshake.unknown-extension"}, True),
    "no_pingresp": (["mqtt.pingresp*"], {"mqtt.pingresp.v4", "mqtt.pingresp.v5"}, True),
    "pingresp_before_connack": (["mqtt.connack-first*"], {"mqtt.connack-first.v4", "mqtt.connack-first.v5"}, True),
    "omit_subprotocol": (["subprotocol.*"], {
        "subprotocol.mqtt", "subprotocol.mqtt-then-legacy", "subprotocol.legacy-then-mqtt", "subprotocol.two-fields",
        "subprotocol.odd-whitespace", "subprotocol.mixed-case-and-mqtt", "subprotocol.three-values"}, True),
    "lenient_subprotocol": (["subprotocol.*"], {"subprotocol.none", "subprotocol.unknown-only",
                                                "subprotocol.legacy-only", "subprotocol.upper-case"}, True),
    "first_case_insensitive": (["subprotocol.*"], {"subprotocol.upper-case", "subprotocol.mixed-case-and-mqtt"}, True),
    "raw_mqtt": (["robustness.raw-mqtt-on-ws-port"], {"robustness.raw-mqtt-on-ws-port"}, True),
    "top_bit_ok": (["robustness.frame-length-top-bit"], {"robustness.frame-length-top-bit"}, True),
    "dies_on_huge_length": (["robustness.huge-remaining-length"], {"robustness.huge-remaining-length"}, True),
    "dies_on_huge_frame": (["robustness.huge-frame-length"], {"robustness.huge-frame-length"}, True),
    "fragile_on_431": (["handshake.oversized-headers"], {"handshake.oversized-headers"}, True),
    "fragile_on_garbage": (["robustness.garbage-request"], {"robustness.garbage-request"}, True),
    "will_delay_ignored": (["mqtt5.will-delay*"], {"mqtt5.will-delay-reconnect", "mqtt5.will-delay-elapsed"}, True),
    "announce_max_packet": (["mqtt5.packet-too-large"], set(), True),
    "unenforced_max_packet": (["mqtt5.packet-too-large"], {"mqtt5.packet-too-large"}, True),
}


def run_suite(url, patterns, tmp_path, name):
    out = tmp_path / name
    rc = cli.main([url, "--quiet", "--jobs", "8", "--timeout", "2", "--report-dir", str(out), "--format", "json",
                   "--only", ",".join(patterns)])
    with open(out / "report.json") as f:
        return rc, json.load(f)


def deviations(doc):
    return {c["id"]: c["verdict"] for c in doc["cases"] if c["verdict"] in ("fail", "non-strict", "error")}


def test_every_switch_is_mapped():
    import badbroker
    assert set(PROOF) == set(badbroker.SWITCHES)


def test_clean_target_passes_everything(clean_target, tmp_path):
    rc, doc = run_suite(clean_target.url, ["*"], tmp_path, "clean")
    assert deviations(doc) == {}
    assert rc == 0
    assert doc["summary"]["total"] >= 200


@pytest.mark.parametrize("switch", sorted(PROOF))
def test_switch_breaks_exactly_its_cases(switch, bad_target, tmp_path):
    scope, must, exact = PROOF[switch]
    b = bad_target(switch)
    rc, doc = run_suite(b.url, scope, tmp_path, switch)
    dev = deviations(doc)
    assert not [i for i, v in dev.items() if v == "error"], dev
    missing = must - set(dev)
    assert not missing, f"cases that should fail under {switch}: {sorted(missing)}"
    if exact:
        assert set(dev) == must, f"unexpected deviations under {switch}: {sorted(set(dev) - must)}"
    assert rc == (1 if any(v == "fail" for v in dev.values()) else 0)


@pytest.mark.parametrize("switches", [(), ("lenient_http",), ("accept_invalid_packets",), ("text_ok",),
                                      ("close_code_unchecked", "length_unchecked")])
def test_acceptable_vectors_never_fail(switches, bad_target, tmp_path):
    reg = cli.load_cases()
    ids = [c.id for c in reg.cases if c.acceptable]
    assert len(ids) >= 15
    b = bad_target(*switches)
    rc, doc = run_suite(b.url, ids, tmp_path, "acceptable")
    assert doc["summary"]["total"] == len(ids)
    assert [c["id"] for c in doc["cases"] if c["verdict"] in ("fail", "error")] == []
