#ifndef CMOSQUITTO_SHIM_H
#define CMOSQUITTO_SHIM_H

#include <mosquitto.h>
/* In libmosquitto 2.0.11 the MQTT_PROP_* and MQTT_RC_* constants live only in this header. */
#include <mqtt_protocol.h>
/* The hand-driven network loop's wake-up (Glibc's Swift module does not export it). */
#include <sys/eventfd.h>

#endif
