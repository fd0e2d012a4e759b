/*
 * mqws/mqws.h - umbrella header of libmqws, the sans-IO MQTT over WebSocket codecs.
 *
 * Layers, bottom up (each usable alone):
 *   mqws/common.h     views, UTF-8 validation
 *   mqws/error.h      the one error enum, with requirement ids and wire reactions
 *   mqws/handshake.h  HTTP/1.1 Upgrade (RFC 6455 section 4) + MQTT subprotocol
 *   mqws/ws.h         WebSocket frames (RFC 6455 section 5)
 *   mqws/mqtt.h       MQTT 3.1.1 / 5.0 control packets
 *   mqws/stream.h     packet reassembly across frames (MQTT-6.0.0-2)
 */
#ifndef MQWS_MQWS_H
#define MQWS_MQWS_H

#include "mqws/common.h"
#include "mqws/error.h"
#include "mqws/handshake.h"
#include "mqws/mqtt.h"
#include "mqws/stream.h"
#include "mqws/ws.h"

#endif /* MQWS_MQWS_H */
