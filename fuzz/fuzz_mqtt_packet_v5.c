/* fuzz/fuzz_mqtt_packet_v5.c - MQTT 5.0 control packets (connection version 5). */
#define MQWS_FUZZ_VERSION 5
#include "fuzz_mqtt_packet_impl.h"
