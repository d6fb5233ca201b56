/*
 * demo.h: `certbridge demo`, the whole flow on embedded defaults.
 *
 * An in-process Kafka cluster (librdkafka's mock cluster), the reference CA
 * started locally with an inventory made from the sample's holders, the
 * sample reorganization of Đồng Nai province (2025) produced to the input
 * topics, `certbridge run`'s pipeline until the input is drained, and a
 * readable outcome table. Everything it starts is stopped before it returns.
 */
#ifndef CB_DEMO_H
#define CB_DEMO_H

#include <stdbool.h>
#include <stdio.h>

#include "certbridge/config.h"
#include "certbridge/error.h"

/* Runs the demo with cfg's policy.* and log.* settings (Kafka and CA
 * settings are the demo's own). refca_path names the reference CA
 * executable, or NULL to look next to this executable, in its refca/
 * folder, then in PATH. Prints the table to out.
 *
 * With async, the reference CA answers every mutating call PENDING and
 * finishes it 0.3 to 1.5 s later (standing for the days the real CA takes,
 * docs/ARCHITECTURE.md §5); the run ends once every request is final. The
 * table then shows each action that went through PENDING as
 * "PENDING → SUCCEEDED" (its PENDING record, then its final record with
 * the same outcome_id, both read back from the outcome topic), and a line
 * counts them, with how many stayed PENDING (none, unless interrupted). */
int cb_demo_run(const cb_config_t *cfg, const char *refca_path, bool async, FILE *out,
                cb_error_t *err);

/* Writes the reference CA inventory the demo loads (one certificate per
 * holder of the embedded sample, as before the reorganization) to path, as
 * JSON Lines, for a CA run outside the demo (docker/compose.yaml). */
int cb_demo_write_inventory(const char *path, cb_error_t *err);

#endif
