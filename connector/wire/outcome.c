/*
 * outcome.c: life cycle and status names of cb_outcome_t (schemas/CertificateActionOutcome.avsc).
 */
#include "certbridge/outcome.h"

#include <stdlib.h>
#include <string.h>

/* Empties o: NULL strings, zero numbers, no revocation reason. */
void cb_outcome_init(cb_outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    o->revocation_reason = CB_REASON_NONE;
    o->final = true;
}

/* Frees every string o owns and re-initializes it. */
void cb_outcome_clear(cb_outcome_t *o)
{
    free(o->outcome_id);
    free(o->source_event_id);
    free(o->source_event_type);
    free(o->source_topic);
    free(o->holder_id);
    free(o->holder_name);
    free(o->certificate_serial);
    free(o->new_certificate_serial);
    free(o->device_id);
    free(o->ca_request_id);
    free(o->error_code);
    free(o->error_message);
    free(o->note);
    free(o->approval_request_id);
    free(o->managing_agency_code);
    free(o->managing_agency_name);
    free(o->document_number);
    free(o->approver);
    cb_outcome_init(o);
}
