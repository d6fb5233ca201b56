/*
 * refca_proc.c: see refca_proc.h.
 */
#include "refca_proc.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int run_wait(char *const argv[])
{
    pid_t pid;
    int st;

    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int refca_proc_start(refca_proc_t *r, const char *bin, const char *inventory_jsonl,
                     const char *const *extra)
{
    char pki[280], state[280], inv[280], urlf[280], cmd[1024];
    char *argv[40];
    int argc = 0, i;
    FILE *f;

    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/cb-refca-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(pki, sizeof(pki), "%s/pki", r->dir);
    snprintf(state, sizeof(state), "%s/state", r->dir);
    snprintf(inv, sizeof(inv), "%s/inventory.jsonl", r->dir);
    snprintf(urlf, sizeof(urlf), "%s/url", r->dir);
    snprintf(r->cert, sizeof(r->cert), "%s/client.pem", pki);
    snprintf(r->key, sizeof(r->key), "%s/client.key", pki);
    snprintf(r->ca_bundle, sizeof(r->ca_bundle), "%s/tls-ca.pem", pki);
    f = fopen(inv, "w");
    if (!f)
        return -1;
    fputs(inventory_jsonl, f);
    fclose(f);
    {
        char *pargv[] = {(char *)bin, "pki-init", pki, NULL};
        if (run_wait(pargv) < 0)
            return -1;
    }
    argv[argc++] = (char *)bin;
    argv[argc++] = "serve";
    argv[argc++] = "--state";
    argv[argc++] = state;
    argv[argc++] = "--pki";
    argv[argc++] = pki;
    argv[argc++] = "--inventory";
    argv[argc++] = inv;
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--url-file";
    argv[argc++] = urlf;
    for (i = 0; extra && extra[i] && argc < 38; i++)
        argv[argc++] = (char *)extra[i];
    argv[argc] = NULL;
    r->pid = fork();
    if (r->pid < 0)
        return -1;
    if (r->pid == 0) {
        /* the CA dies with the test, even when the test is killed */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execv(bin, argv);
        _exit(127);
    }
    for (i = 0; i < 600; i++) { /* 60 s */
        f = fopen(urlf, "r");
        if (f) {
            if (fgets(r->url, sizeof(r->url), f) && strlen(r->url) > 8) {
                r->url[strcspn(r->url, "\r\n")] = '\0';
                fclose(f);
                return 0;
            }
            fclose(f);
        }
        usleep(100 * 1000);
    }
    (void)cmd;
    refca_proc_stop(r);
    return -1;
}

void refca_proc_stop(refca_proc_t *r)
{
    char cmd[400];
    int i, st;

    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        for (i = 0; i < 100 && waitpid(r->pid, &st, WNOHANG) == 0; i++)
            usleep(100 * 1000);
        if (i == 100) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &st, 0);
        }
        r->pid = 0;
    }
    if (r->dir[0] && strncmp(r->dir, "/tmp/cb-refca-", 14) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "refca_proc: could not remove %s\n", r->dir);
    }
}
