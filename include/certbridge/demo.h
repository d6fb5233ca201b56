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
 * counts them, with how many stayed PENDING (none, unless interrupted).
 *
 * Unless cfg's policy.approval is none, one approval round (issue 16;
 * docs/ARCHITECTURE.md §5, "The approval gate"): the reference CA issues a
 * signing certificate to the demo's agency head and writes its root (the
 * trust anchor) and a CRL made now; a first run of the pipeline ends once
 * the input is read, with the gated events waiting (their actions
 * AWAITING_APPROVAL, printed by managing agency and request); the head signs
 * one approval per request (cb_approval_sign), published to the approval
 * topic; a second run verifies them and executes the actions, whose rows
 * show the document number. With approvals_html (a folder, made when
 * missing), the request letters of `certbridge approvals --format html` are
 * written there after the first run. The second run must finish within 60 s
 * (a refused approval would leave its actions waiting). */
int cb_demo_run(const cb_config_t *cfg, const char *refca_path, bool async,
                const char *approvals_html, FILE *out, cb_error_t *err);

/* Writes the reference CA inventory the demo loads (one certificate per
 * holder of the embedded sample, as before the reorganization) to path, as
 * JSON Lines, for a CA run outside the demo (docker/compose.yaml). */
int cb_demo_write_inventory(const char *path, cb_error_t *err);

#endif
