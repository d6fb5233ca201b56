/*
 * cbsign.c: signs an approval for tests and the demo (README "Approval
 * signatures").
 *
 *   cbsign --key KEY.pem --cert CERT.pem [--chain CHAIN.pem] [APPROVAL.json|-]
 *
 * Reads one approval in its JSON form (schemas/approval.schema.json; a
 * signature already there is replaced), signs its canonical bytes with a
 * detached CMS SignedData (SHA-256, the certificate and the chain included)
 * made with KEY (PEM, not encrypted) and CERT, and writes the approval's JSON
 * with the signature (base64) on standard output, one line. The approval is
 * checked as certbridge decodes it, so what cbsign signs certbridge can read.
 * Exit codes: 0 signed, 1 failure (the reason on standard error), 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certbridge/approval.h"
#include "certbridge/approval_verify.h"

#define PEM_MAX (1024 * 1024)

/* The whole of path ("-" = standard input), at most max bytes, into a new
 * NUL-terminated buffer; NULL with a message on failure. */
static char *slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf;

    if (!f) {
        fprintf(stderr, "cbsign: cannot open %s\n", path);
        return NULL;
    }
    if (!(buf = malloc(max + 2))) {
        fprintf(stderr, "cbsign: out of memory\n");
        return NULL;
    }
    *len = fread(buf, 1, max + 1, f);
    if (f != stdin)
        fclose(f);
    if (*len > max) {
        fprintf(stderr, "cbsign: %s is larger than %zu bytes\n", path, max);
        free(buf);
        return NULL;
    }
    buf[*len] = '\0';
    return buf;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: cbsign --key KEY.pem --cert CERT.pem [--chain CHAIN.pem] [APPROVAL.json|-]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"cert", required_argument, NULL, 'c'},
                                         {"chain", required_argument, NULL, 'C'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *key_path = NULL, *cert_path = NULL, *chain_path = NULL, *in = "-";
    char *key = NULL, *cert = NULL, *chain = NULL, *text = NULL, *out = NULL, *certs = NULL;
    size_t key_len = 0, cert_len = 0, chain_len = 0, text_len = 0, out_len;
    cb_approval_t a;
    cb_error_t err;
    int c, rc = 1;

    cb_approval_init(&a);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            key_path = optarg;
            break;
        case 'c':
            cert_path = optarg;
            break;
        case 'C':
            chain_path = optarg;
            break;
        default:
            return usage();
        }
    }
    if (!key_path || !cert_path || argc - optind > 1)
        return usage();
    if (optind < argc)
        in = argv[optind];
    if (!(key = slurp(key_path, PEM_MAX, &key_len)) ||
        !(cert = slurp(cert_path, PEM_MAX, &cert_len)) ||
        (chain_path && !(chain = slurp(chain_path, PEM_MAX, &chain_len))) ||
        !(text = slurp(in, CB_APPROVAL_MAX_BYTES, &text_len)))
        goto out;
    if (!(certs = malloc(cert_len + chain_len + 2))) {
        fprintf(stderr, "cbsign: out of memory\n");
        goto out;
    }
    memcpy(certs, cert, cert_len);
    certs[cert_len] = '\n';
    if (chain)
        memcpy(certs + cert_len + 1, chain, chain_len);
    certs[cert_len + 1 + chain_len] = '\0';
    if (cb_approval_decode(text, text_len, CB_APPROVAL_FORMAT_JSON, &a, &err) < 0) {
        fprintf(stderr, "cbsign: %s: %s\n", in, err.msg);
        goto out;
    }
    if (cb_approval_sign(&a, key, key_len, certs, cert_len + 1 + chain_len, &err) < 0 ||
        cb_approval_encode_json(&a, &out, &out_len, &err) < 0) {
        fprintf(stderr, "cbsign: %s\n", err.msg);
        goto out;
    }
    if (fwrite(out, 1, out_len, stdout) != out_len || fputc('\n', stdout) == EOF ||
        fflush(stdout) != 0) {
        fprintf(stderr, "cbsign: cannot write the signed approval\n");
        goto out;
    }
    rc = 0;
out:
    cb_approval_clear(&a);
    free(key);
    free(cert);
    free(chain);
    free(text);
    free(certs);
    free(out);
    return rc;
}
