/*
 * idempotency.h: the Idempotency-Key of every CA call, a contract with the
 * CA (docs/ARCHITECTURE.md §5).
 *
 * The CA applies a mutating call once per key and answers a repeated key
 * with its first answer; certbridge derives the key from what the action is,
 * never from when it ran, so a batch replayed after a crash or an aborted
 * transaction sends exactly the same keys.
 *
 * The derivation, which must never change for keys already sent: SHA-256
 * over the tag "certbridge-idempotency-v1", event_id, action symbol, holder
 * type symbol, holder id and the target (certificate serial, or key token id
 * for RECALL_DEVICE; NULL for ISSUE), each as a 4-byte big-endian length
 * (0xFFFFFFFF for NULL) followed by the bytes, written as 64 lower-case hex
 * digits. Pure and thread-safe.
 *
 * Lookups carry no key: they read the CA's current state. What a lookup
 * answered is made durable in the state topic instead, so a replay repeats
 * the same calls without asking the CA for a snapshot (docs/ARCHITECTURE.md
 * §5).
 */
#ifndef CB_IDEMPOTENCY_H
#define CB_IDEMPOTENCY_H

#include "certbridge/vocab.h"

#define CB_IDEMPOTENCY_KEY_LEN 64 /* hex digits, without the NUL */

/* The key of one CA action. Should OpenSSL fail (out of memory), out is the
 * empty string: treat that as a failed call, never send it. */
void cb_idempotency_key(const char *event_id, cb_action_t action, cb_holder_type_t holder_type,
                        const char *holder_id, const char *serial, char out[65]);

#endif
