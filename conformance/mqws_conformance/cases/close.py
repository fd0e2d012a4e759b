"""Hand-written cases: the close handshake, errors, and the will message."""
from .. import mqtt, ws
from ..net import MqttClient
from .util import add, both, marker, publish, receive, subscribe, until_payload


def close_echo(code):
    def run(ctx):
        m = ctx.mqtt(version=4)
        m.ws.send_close(code, b"bye" if code else b"")
        o = m.outcome(probe=False)
        ctx.tr.note("outcome: " + o.summary())
        if o.close_code is None:
            ctx.fail(o.summary(), "a close frame in answer")
            return
        if o.close_code in (1005, 1006, 1015):
            ctx.fail(f"close frame with code {o.close_code}", "a code that may be sent")
            return
        if code and o.close_code != code:
            ctx.non_strict(f"answered code {o.close_code}", f"the code {code} echoed")
        else:
            ctx.passed(f"answered close {o.close_code or '(no code)'}" + ("; TCP closed" if o.eof else ""))
        if not o.eof:
            ctx.non_strict("the server did not close the TCP connection after the close handshake",
                           "the server closes TCP first")
    return run


def nothing_after_close(ctx):
    m = ctx.mqtt(version=4)
    topic = ctx.topic()
    subscribe(m, [(topic, 0)])
    p = ctx.mqtt("pub", version=4)
    m.ws.send_close(1000)
    for i in range(5):
        publish(p, topic, b"after close", qos=0)
    o = m.outcome(probe=False)
    fr = m.ws.server_frames
    idx = [i for i, f in enumerate(fr) if f.opcode == ws.OP_CLOSE]
    after = [f for f in fr[idx[0] + 1:]] if idx else []
    ctx.check(idx and not after, f"{len(after)} frames after the server's close frame; {o.summary()}",
              "no frame after the close frame")


def protocol_error(ctx):
    m = ctx.mqtt()
    m.send(b"\x36\x07\x00\x01t\x00\x01ab" if ctx.version == 4 else b"\x36\x08\x00\x01t\x00\x01\x00ab",
           "PUBLISH with QoS 3 (malformed)")
    o = m.outcome()
    ctx.tr.note("outcome: " + o.summary())
    if not o.refused:
        ctx.fail(o.summary(), "the connection closed")
    elif ctx.version == 4 and o.disconnect is not None:
        ctx.fail("the server sent DISCONNECT to a 3.1.1 client", "a close without DISCONNECT (3.1.1 has no server DISCONNECT)")
    elif ctx.version == 5 and o.disconnect is not None and o.disconnect < 0x80:
        ctx.fail(f"DISCONNECT reason 0x{o.disconnect:02x}", "a reason code of 0x80 or more")
    else:
        ctx.passed(o.summary())


def second_connect(ctx):
    m = ctx.mqtt()
    m.send(mqtt.connect(ctx.version, ctx.client_id()), "a second CONNECT")
    o = m.outcome()
    ctx.check(o.refused, o.summary(), "the connection closed")


def first_not_connect(ctx):
    c = ctx.ws()
    m = MqttClient(c, ctx.version)
    m.send(mqtt.publish("mqws-check/x", b"x", version=ctx.version), "PUBLISH before CONNECT")
    o = m.outcome()
    ctx.check(o.refused and o.connack in (None,) + tuple(range(1, 256)),
              o.summary(), "the connection closed, no CONNACK 0")


def will_case(how):
    def run(ctx):
        wt = ctx.topic("will")
        sub = ctx.mqtt("sub")
        subscribe(sub, [(wt, 1)])
        w = ctx.mqtt("w", will={"topic": wt, "payload": b"gone", "qos": 1})
        if how == "ws-close":
            w.ws.send_close(1000)
            w.outcome(probe=False, timeout=2)
        elif how == "tcp-close":
            w.ws.tr.note("closing TCP without DISCONNECT or close frame")
            w.ws.close()
        elif how == "disconnect-0x04":
            w.send(mqtt.disconnect(5, 0x04))
            w.outcome(probe=False, timeout=2)
            w.ws.close()
        else:
            w.disconnect()
            w.outcome(probe=False, timeout=2)
            w.ws.close()
        got = []
        if how != "disconnect":
            # the server notices the lost connection when it does: a marker sent at once
            # on another connection may overtake it, so the will is awaited first
            got = receive(sub, until=until_payload(b"gone"), timeout=ctx.target.timeout + 2)
        mk = marker(ctx, wt)
        got += receive(sub, until=until_payload(mk), timeout=ctx.target.timeout + 2)
        wills = [d for d in got if d["payload"] == b"gone"]
        if how == "disconnect":
            ctx.check(not wills, f"{len(wills)} will messages before the marker",
                      "no will after DISCONNECT")
        else:
            ctx.check(len(wills) == 1, f"{len(wills)} will messages before the marker"
                      + ("" if any(d["payload"] == mk for d in got) else " (marker not seen)"),
                      "the will published once")
    return run


def register():
    add("close.echo-1000", "A close frame 1000 is answered with a close frame", "close",
        ["RFC6455-5.5.1", "RFC6455-7.1.1"], close_echo(1000))
    add("close.echo-4000", "A close frame 4000 (private use) is echoed", "close",
        ["RFC6455-5.5.1"], close_echo(4000))
    add("close.echo-empty", "An empty close frame is answered without code 1005", "close",
        ["RFC6455-5.5.1", "RFC6455-7.4.1"], close_echo(None))
    add("close.nothing-after-close", "No frame follows the server's close frame", "close",
        ["RFC6455-5.5.1"], nothing_after_close)
    both("close.protocol-error", "A malformed packet closes the connection; 5.0 may send DISCONNECT >= 0x80 first",
         "close", ["MQTT-4.8.0-1", "MQTT-3.3.1-4"], ["MQTT-4.13.1-1", "MQTT-3.3.1-4", "MQTT-4.13.2-1"],
         protocol_error)
    both("close.second-connect", "A second CONNECT closes the connection", "close",
         ["MQTT-3.1.0-2"], ["MQTT-3.1.0-2"], second_connect)
    both("close.first-packet-not-connect", "A PUBLISH before CONNECT closes the connection", "close",
         ["MQTT-3.1.0-1"], ["MQTT-3.1.0-1"], first_not_connect)
    both("close.ws-close-triggers-will", "A WebSocket close without DISCONNECT publishes the will", "close",
         ["MQTT-3.1.2-8", "MQTT-3.1.2-10"], ["MQTT-3.1.2-8", "MQTT-3.1.2-10"], will_case("ws-close"))
    both("close.tcp-close-triggers-will", "A TCP close without DISCONNECT publishes the will", "close",
         ["MQTT-3.1.2-8"], ["MQTT-3.1.2-8"], will_case("tcp-close"))
    both("close.disconnect-discards-will", "DISCONNECT then close: no will", "close",
         ["MQTT-3.1.2-10", "MQTT-3.14.4-3"], ["MQTT-3.1.2-10", "MQTT-3.14.4-3"], will_case("disconnect"))
    add("close.disconnect-with-will-0x04.v5", "DISCONNECT 0x04 (with will) publishes the will (5.0)", "close",
        ["MQTT-3.1.2-8", "MQTT-3.14.2-1"], will_case("disconnect-0x04"), mqtt=5)
