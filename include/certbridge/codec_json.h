/*
 * codec_json.h: events as JSON objects, the `plan` input and a wire format
 * (codec_json.c states the accepted forms).
 */
#ifndef CB_CODEC_JSON_H
#define CB_CODEC_JSON_H

#include <stddef.h>

#include "certbridge/error.h"
#include "certbridge/event.h"

/* Decodes one JSON event object of len bytes into out (initialized by the
 * callee; cleared on failure). Errors are permanent (CB_ERR_DECODE,
 * CB_ERR_INVALID, CB_ERR_LIMIT) and name the field path first. */
int cb_codec_json_decode_event(const char *buf, size_t len, cb_event_t *out, cb_error_t *err);

#endif
