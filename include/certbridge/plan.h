/*
 * plan.h: `certbridge plan`: the intents each event of a JSON Lines file
 * produces, offline (no Kafka, no CA).
 *
 * Input: one JSON event per line (codec_json.h), lines
 * of at most CB_EVENT_MAX_BYTES, blank lines skipped. Output, to a stream the
 * caller gives:
 *   table  for people: EVENT, ACTION, HOLDER, REASON, NOTE columns aligned by
 *          display width (table.h), the new subject under a CHANGE_INFO/ISSUE
 *          row, and a count of events and intents at the end. Printed once the whole file
 *          has been planned, so a bad line prints no table.
 *   json   one compact JSON object per intent per line, written as each event
 *          is planned: event_id, event_type, action, holder_type, holder_id
 *          (null for a cascade intent), holder_name, and where they apply
 *          revocation_reason, new_subject, emergency_signing_allowed (a
 *          person's CHANGE_INFO), cascade_org_code; then note.
 * A bad line stops planning with CB_ERR_INVALID and the message
 * "FILE:LINE: <reason>". The module never prints anything but the plan and
 * never exits.
 */
#ifndef CB_PLAN_H
#define CB_PLAN_H

#include <stdio.h>

#include "certbridge/error.h"
#include "certbridge/rules.h"
#include "certbridge/schedule.h"

typedef enum cb_plan_format { CB_PLAN_TABLE = 0, CB_PLAN_JSON } cb_plan_format_t;

/* Parses "table|json"; -1 when unknown. */
int cb_plan_format_parse(const char *s);

/* Plans every event read from in (name is used in error messages) and writes
 * the plan to out. Returns 0, or -1 with err set: CB_ERR_INVALID for a bad
 * line ("name:line: reason"), CB_ERR_IO when reading or writing fails,
 * CB_ERR_NOMEM. */
int cb_plan_stream(FILE *in, const char *name, const cb_policy_t *policy, cb_plan_format_t format,
                   FILE *out, cb_error_t *err);

/* As cb_plan_stream on the file at path. A file that cannot be opened is
 * CB_ERR_IO ("path: cannot open: reason"). */
int cb_plan_file(const char *path, const cb_policy_t *policy, cb_plan_format_t format, FILE *out,
                 cb_error_t *err);

/* As cb_plan_file, and says when each action runs (dates: the effective
 * date policy): a RUNS column in the table, "runs_at" in JSON, 00:00 of the
 * event's effective date in policy.timezone ("2025-07-01 00:00 +07:00"), or
 * "when read" under policy.effective_date=ignore. `certbridge run` executes
 * an action then, or when it reads the event if that is later. */
int cb_plan_file_dated(const char *path, const cb_policy_t *policy,
                       const cb_schedule_policy_t *dates, cb_plan_format_t format, FILE *out,
                       cb_error_t *err);

#endif
