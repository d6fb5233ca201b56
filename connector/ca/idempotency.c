/*
 * idempotency.c: the derivation of the CA's Idempotency-Keys
 * (idempotency.h states it in full).
 */
#include "certbridge/idempotency.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* SHA-256, fetched from the provider once for the process: EVP_sha256()
 * makes every EVP_DigestInit_ex look the algorithm up again, which costs
 * more than hashing a key. Never freed (one per process). */
static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? sha256_md : EVP_sha256();
}

/* digest as lower-case hex into out (65 bytes with the NUL). */
static void to_hex(const unsigned char digest[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

/* Feeds one length-prefixed field to the digest: a 4-byte big-endian
 * length, or 0xFFFFFFFF for NULL, then the bytes. -1 when OpenSSL fails. */
static int digest_field(EVP_MD_CTX *md, const char *s)
{
    unsigned char len[4];
    size_t n = s ? strlen(s) : 0;
    uint32_t v = s ? (uint32_t)n : 0xFFFFFFFFu;

    len[0] = (unsigned char)(v >> 24);
    len[1] = (unsigned char)(v >> 16);
    len[2] = (unsigned char)(v >> 8);
    len[3] = (unsigned char)v;
    if (EVP_DigestUpdate(md, len, sizeof(len)) != 1 || (n && EVP_DigestUpdate(md, s, n) != 1))
        return -1;
    return 0;
}

/* SHA-256 over a version tag and the length-prefixed tuple (event_id,
 * action, holder type, holder id, serial), as lower-case hex. The tag lets
 * a future scheme never collide with this one. Should OpenSSL fail (out of
 * memory), out is the empty string rather than a key another action could
 * share; callers treat an empty key as a failed call. */
void cb_idempotency_key(const char *event_id, cb_action_t action, cb_holder_type_t holder_type,
                        const char *holder_id, const char *serial, char out[65])
{
    unsigned char digest[32];
    unsigned int dlen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    out[0] = '\0';
    if (!md || EVP_DigestInit_ex(md, sha256(), NULL) != 1)
        goto cleanup_md;
    if (digest_field(md, "certbridge-idempotency-v1") < 0 || digest_field(md, event_id) < 0 ||
        digest_field(md, cb_action_name(action)) < 0 ||
        digest_field(md, cb_holder_type_name(holder_type)) < 0 || digest_field(md, holder_id) < 0 ||
        digest_field(md, serial) < 0 || EVP_DigestFinal_ex(md, digest, &dlen) != 1 ||
        dlen != sizeof(digest))
        goto cleanup_md;
    to_hex(digest, out);
cleanup_md:
    EVP_MD_CTX_free(md);
}
