/* fuzz/fuzz_mqtt_packet_v311.c - MQTT 3.1.1 control packets (connection version 4). */
#define MQWS_FUZZ_VERSION 4
#include "fuzz_mqtt_packet_impl.h"
