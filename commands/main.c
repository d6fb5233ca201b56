/*
 * main.c: the certbridge executable. Everything lives in the library; this
 * file only hands the command line and environment to cb_cli_main().
 */
#include "certbridge/cli.h"

int main(int argc, char **argv, char **envp)
{
    return cb_cli_main(argc, argv, envp);
}
