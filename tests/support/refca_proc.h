/*
 * refca_proc.h: starts and stops a reference CA process for C tests.
 */
#ifndef CB_REFCA_PROC_H
#define CB_REFCA_PROC_H

#include <stddef.h>
#include <sys/types.h>

typedef struct refca_proc {
    pid_t pid;
    char dir[256]; /* work folder: state/, pki/, inventory.jsonl, url */
    char url[256]; /* https://127.0.0.1:PORT */
    char cert[400], key[400], ca_bundle[400];
} refca_proc_t;

/* Makes a work folder, a PKI (pki-init), writes inventory_jsonl to a file
 * and starts `bin serve` on a free port with the extra arguments (NULL-
 * terminated, may be NULL). Returns 0 when the CA answers, -1 otherwise. */
int refca_proc_start(refca_proc_t *r, const char *bin, const char *inventory_jsonl,
                     const char *const *extra);

/* Stops the process (SIGTERM, then SIGKILL) and removes the work folder. */
void refca_proc_stop(refca_proc_t *r);

#endif
