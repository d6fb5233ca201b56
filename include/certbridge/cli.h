/*
 * cli.h: the command line: the verbs (run, demo, config, plan, report,
 * version), their options, and `--help` for each. main() only calls
 * cb_cli_main().
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration (the
 * message names the key or argument), 3 bad input file.
 */
#ifndef CB_CLI_H
#define CB_CLI_H

#include "certbridge/config.h"
#include "certbridge/error.h"

enum { CB_EXIT_OK = 0, CB_EXIT_RUNTIME = 1, CB_EXIT_USAGE = 2, CB_EXIT_INPUT = 3 };

/* Runs the verb named in argv[1]; envp supplies CERTBRIDGE_* overrides.
 * Prints results to stdout and errors to stderr; returns the exit code. */
int cb_cli_main(int argc, char **argv, char **envp);

/* Builds the configuration every verb uses: defaults, then the file (when
 * path is not NULL), then CERTBRIDGE_* variables from envp. Caller owns the
 * result. NULL with err set (CB_ERR_CONFIG) on failure. */
cb_config_t *cb_cli_load_config(const char *path, char **envp, cb_error_t *err);

#endif
