/*
 * store.c: the reference CA's SQLite state (store.h).
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certbridge/clock.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, val BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS certs(serial TEXT PRIMARY KEY, holder_type TEXT NOT NULL,"
    " holder_id TEXT NOT NULL, org_code TEXT, subject TEXT NOT NULL, device_id TEXT,"
    " pubkey BLOB NOT NULL, der BLOB NOT NULL, not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL, status TEXT NOT NULL, revoke_reason INTEGER NOT NULL,"
    " revoked_at INTEGER NOT NULL, replaced_by TEXT, province TEXT, changed_ms INTEGER NOT NULL"
    " DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS certs_holder ON certs(holder_type, holder_id, status);"
    "CREATE INDEX IF NOT EXISTS certs_org ON certs(org_code, holder_type, status);"
    "CREATE INDEX IF NOT EXISTS certs_device ON certs(device_id);"
    "CREATE INDEX IF NOT EXISTS certs_status ON certs(status);"
    "CREATE TABLE IF NOT EXISTS recalls(device_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL,"
    " returned_at_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS idempotency(key TEXT PRIMARY KEY, route TEXT NOT NULL,"
    " status INTEGER NOT NULL, body TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS requests(id TEXT PRIMARY KEY, state TEXT NOT NULL,"
    " op TEXT NOT NULL, target TEXT, params TEXT, idem_key TEXT, due_ms INTEGER NOT NULL,"
    " status INTEGER NOT NULL, body TEXT, fate TEXT NOT NULL DEFAULT 'COMPLETED',"
    " min_polls INTEGER NOT NULL DEFAULT 0, polls INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS requests_due ON requests(state, due_ms);"
    "CREATE TABLE IF NOT EXISTS ledger(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at_ms INTEGER NOT NULL, op TEXT NOT NULL, serial TEXT, new_serial TEXT, device_id TEXT,"
    " reason INTEGER NOT NULL, idem_key TEXT, request_id TEXT, document_number TEXT);";

/* A requests table made by an earlier release (no fate, min_polls, polls;
 * final states SUCCEEDED and FAILED) brought up to date: what it holds was
 * decided before fates existed, so every request keeps the fate COMPLETED. */
static const char migrate_requests[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE requests ADD COLUMN fate TEXT NOT NULL DEFAULT 'COMPLETED';"
    "ALTER TABLE requests ADD COLUMN min_polls INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN polls INTEGER NOT NULL DEFAULT 0;"
    "UPDATE requests SET state = 'COMPLETED' WHERE state = 'SUCCEEDED';"
    "UPDATE requests SET state = 'REJECTED' WHERE state = 'FAILED';"
    "COMMIT;";

/* A certs table made by an earlier release (no province, no changed_ms)
 * brought up to date: changed_ms from the times it has (issued a minute
 * after not_before, or revoked); the provinces are filled in by
 * refca_store_cert_provinces (they need the subject parsed). */
static const char migrate_certs[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE certs ADD COLUMN province TEXT;"
    "ALTER TABLE certs ADD COLUMN changed_ms INTEGER NOT NULL DEFAULT 0;"
    "UPDATE certs SET changed_ms = 1000 * (CASE WHEN revoked_at > not_before + 60"
    " THEN revoked_at ELSE not_before + 60 END);"
    "COMMIT;";

/* A ledger of an earlier release: no call carried a document number. */
static const char migrate_ledger[] = "ALTER TABLE ledger ADD COLUMN document_number TEXT;";

/* A recalls table of an earlier release: no token was returned yet. */
static const char migrate_recalls[] = "ALTER TABLE recalls ADD COLUMN returned_at_ms INTEGER;";

/* Indexes on the columns added since the first release (after the
 * migrations above). */
static const char late_indexes[] =
    "CREATE INDEX IF NOT EXISTS certs_province ON certs(province, status);"
    "CREATE INDEX IF NOT EXISTS certs_changed ON certs(changed_ms);";

/* The prepared statements, by purpose. */
enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_META_GET,
    ST_META_SET,
    ST_CERT_PUT,
    ST_CERT_GET,
    ST_CERT_REVOKE,
    ST_CERT_COUNT,
    ST_CERT_BY_HOLDER,
    ST_CERT_BY_ORG,
    ST_CERT_BY_HOLDER_ORG,
    ST_CERT_REVOKED,
    ST_DEVICE_KNOWN,
    ST_RECALL_GET,
    ST_RECALL_PUT,
    ST_IDEM_GET,
    ST_IDEM_PUT,
    ST_REQ_PUT,
    ST_REQ_GET,
    ST_REQ_FINISH,
    ST_REQ_DUE,
    ST_REQ_POLLED,
    ST_LEDGER_ADD,
    ST_LEDGER_EACH,
    ST_LEDGER_COUNT,
    ST_CERT_MAX_ROWID,
    ST_CERT_NO_PROVINCE,
    ST_CERT_SET_PROVINCE,
    ST_RETURN_GET,
    ST_RETURN_SET,
    ST_DEVICE_PAGE,
    ST_DEVICE_HOLDER,
    ST_COUNT
};

#define CERT_COLS                                                                                  \
    "serial, holder_type, holder_id, org_code, subject, device_id, pubkey, der, not_before,"       \
    " not_after, status, revoke_reason, revoked_at, replaced_by, province, changed_ms"

static const char *const sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_META_GET] = "SELECT val FROM meta WHERE name = ?1",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta(name, val) VALUES(?1, ?2)",
    [ST_CERT_PUT] = "INSERT INTO certs(" CERT_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,"
                    "?12,?13,?14,?15,?16)",
    [ST_CERT_GET] = "SELECT " CERT_COLS " FROM certs WHERE serial = ?1",
    [ST_CERT_REVOKE] = "UPDATE certs SET status = 'revoked', revoke_reason = ?2, revoked_at = ?3,"
                       " replaced_by = ?4, changed_ms = ?5 WHERE serial = ?1 AND status = 'active'",
    [ST_CERT_COUNT] = "SELECT count(*) FROM certs",
    [ST_CERT_BY_HOLDER] = "SELECT " CERT_COLS " FROM certs WHERE holder_type = ?1 AND"
                          " holder_id = ?2 AND status = 'active' ORDER BY serial",
    [ST_CERT_BY_ORG] = "SELECT " CERT_COLS " FROM certs WHERE org_code = ?3 AND"
                       " holder_type = ?1 AND status = 'active' ORDER BY serial",
    [ST_CERT_BY_HOLDER_ORG] = "SELECT " CERT_COLS " FROM certs WHERE holder_type = ?1 AND"
                              " holder_id = ?2 AND org_code = ?3 AND status = 'active'"
                              " ORDER BY serial",
    [ST_CERT_REVOKED] = "SELECT serial, revoke_reason, revoked_at FROM certs"
                        " WHERE status = 'revoked'",
    [ST_DEVICE_KNOWN] = "SELECT 1 FROM certs WHERE device_id = ?1 LIMIT 1",
    [ST_RECALL_GET] = "SELECT 1 FROM recalls WHERE device_id = ?1",
    [ST_RECALL_PUT] = "INSERT INTO recalls(device_id, at_ms) VALUES(?1, ?2)",
    [ST_IDEM_GET] = "SELECT route, status, body FROM idempotency WHERE key = ?1",
    [ST_IDEM_PUT] = "INSERT INTO idempotency(key, route, status, body) VALUES(?1,?2,?3,?4)",
    [ST_REQ_PUT] = "INSERT INTO requests(id, state, op, target, params, idem_key, due_ms,"
                   " status, body, fate, min_polls, polls)"
                   " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,0)",
    [ST_REQ_GET] = "SELECT id, state, op, target, params, idem_key, due_ms, status, body, fate,"
                   " min_polls, polls FROM requests WHERE id = ?1",
    [ST_REQ_FINISH] = "UPDATE requests SET state = ?2, status = ?3, body = ?4 WHERE id = ?1",
    [ST_REQ_DUE] = "SELECT id FROM requests WHERE state = 'PENDING' AND due_ms <= ?1"
                   " AND polls >= min_polls ORDER BY due_ms LIMIT ?2",
    [ST_REQ_POLLED] = "UPDATE requests SET polls = polls + 1 WHERE id = ?1 AND state = 'PENDING'",
    [ST_LEDGER_ADD] = "INSERT INTO ledger(at_ms, op, serial, new_serial, device_id, reason,"
                      " idem_key, request_id, document_number) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    [ST_LEDGER_EACH] = "SELECT seq, at_ms, op, serial, new_serial, device_id, reason, idem_key,"
                       " request_id, document_number FROM ledger WHERE seq > ?1 ORDER BY seq"
                       " LIMIT ?2",
    [ST_LEDGER_COUNT] = "SELECT count(*) FROM ledger",
    [ST_CERT_MAX_ROWID] = "SELECT coalesce(max(rowid), 0) FROM certs",
    [ST_CERT_NO_PROVINCE] = "SELECT serial, subject FROM certs WHERE province IS NULL LIMIT 512",
    [ST_CERT_SET_PROVINCE] = "UPDATE certs SET province = ?2 WHERE serial = ?1",
    [ST_RETURN_GET] = "SELECT at_ms, returned_at_ms FROM recalls WHERE device_id = ?1",
    [ST_RETURN_SET] = "UPDATE recalls SET returned_at_ms = ?2 WHERE device_id = ?1",
    /* recalled tokens after a rowid, with the holder of the newest
     * certificate that names the token (its org_code filtered on) */
    [ST_DEVICE_PAGE] = "SELECT r.rowid, r.device_id, r.at_ms, r.returned_at_ms FROM recalls r"
                       " WHERE r.rowid > ?1 AND (?2 = 'any' OR (?2 = 'recalled' AND"
                       " r.returned_at_ms IS NULL) OR (?2 = 'returned' AND r.returned_at_ms IS"
                       " NOT NULL)) AND (?3 IS NULL OR ?3 = (SELECT org_code FROM certs c"
                       " WHERE c.device_id = r.device_id ORDER BY c.rowid DESC LIMIT 1))"
                       " ORDER BY r.rowid LIMIT ?4",
    [ST_DEVICE_HOLDER] = "SELECT holder_type, holder_id, org_code, subject FROM certs"
                         " WHERE device_id = ?1 ORDER BY rowid DESC LIMIT 1",
};

/* The filters of a certificate page query (refca_cert_query_t), as bits of
 * the cache of statements made for each combination. */
enum {
    QF_HOLDER_TYPE = 1,
    QF_HOLDER_ID = 2,
    QF_ORG_CODE = 4,
    QF_PROVINCE = 8,
    QF_STATUS = 16,
    QF_CHANGED = 32,
    QF_COMBINATIONS = 64
};

struct refca_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    sqlite3_stmt *page[QF_COMBINATIONS];  /* certificate pages, by filter bits */
    sqlite3_stmt *count[QF_COMBINATIONS]; /* their counts */
};

/* Fills err with SQLite's message for what. Returns -1. */
static int db_fail(refca_store_t *st, cb_error_t *err, const char *what)
{
    return cb_error_set(err, CB_ERR_IO, "sqlite %s: %s", what, sqlite3_errmsg(st->db));
}

/* The prepared statement for purpose id, reset and unbound, ready to bind.
 * Prepared on first use. */
static sqlite3_stmt *stmt(refca_store_t *st, int id, cb_error_t *err)
{
    if (!st->st[id]) {
        if (sqlite3_prepare_v3(st->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->st[id], NULL) !=
            SQLITE_OK) {
            db_fail(st, err, "prepare");
            return NULL;
        }
    } else {
        sqlite3_reset(st->st[id]);
        sqlite3_clear_bindings(st->st[id]);
    }
    return st->st[id];
}

/* Binds a string or NULL. */
static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* Runs a statement that returns no rows. */
static int step_done(refca_store_t *st, sqlite3_stmt *s, cb_error_t *err, const char *what)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(st, err, what);
    return 0;
}

/* A heap copy of a text column, or NULL for SQL NULL. */
static char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return t ? strdup((const char *)t) : NULL;
}

/* A heap copy of a blob column, with its length. */
static unsigned char *col_blob(sqlite3_stmt *s, int i, size_t *len)
{
    const void *b = sqlite3_column_blob(s, i);
    int n = sqlite3_column_bytes(s, i);
    unsigned char *out;

    *len = 0;
    if (!b || n <= 0 || !(out = malloc((size_t)n)))
        return NULL;
    memcpy(out, b, (size_t)n);
    *len = (size_t)n;
    return out;
}

/* Whether table has the column (a statement naming it compiles). */
static bool has_column(refca_store_t *st, const char *table, const char *column)
{
    char q[160];
    sqlite3_stmt *s = NULL;
    bool ok;

    snprintf(q, sizeof(q), "SELECT %s FROM %s LIMIT 0", column, table);
    ok = sqlite3_prepare_v2(st->db, q, -1, &s, NULL) == SQLITE_OK;
    sqlite3_finalize(s);
    return ok;
}

refca_store_t *refca_store_open(const char *dir, bool readonly, cb_error_t *err)
{
    refca_store_t *st = calloc(1, sizeof(*st));
    char path[4096];
    char *msg = NULL;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

    if (!st) {
        cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/refca.db", dir);
    if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        cb_error_set(err, CB_ERR_IO, "%s: %s", path,
                     st->db ? sqlite3_errmsg(st->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* WAL without fsync: the state survives the process being killed (the
     * crash tests kill it), not the machine losing power, which a reference
     * CA need not; a large WAL keeps checkpoints rare; the database file is
     * read through a memory map (no read system call per page) */
    if (!readonly && (sqlite3_exec(st->db,
                                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
                                   "PRAGMA wal_autocheckpoint=8192; PRAGMA cache_size=-65536;"
                                   "PRAGMA mmap_size=1073741824;",
                                   NULL, NULL, &msg) != SQLITE_OK ||
                      sqlite3_exec(st->db, schema, NULL, NULL, &msg) != SQLITE_OK)) {
        cb_error_set(err, CB_ERR_IO, "%s: %s", path, msg ? msg : "schema");
        sqlite3_free(msg);
        goto fail;
    }
    if (!readonly && !has_column(st, "certs", "province") &&
        sqlite3_exec(st->db, migrate_certs, NULL, NULL, &msg) != SQLITE_OK) {
        cb_error_set(err, CB_ERR_IO, "%s: upgrading the certs table: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    if (!readonly && !has_column(st, "recalls", "returned_at_ms") &&
        sqlite3_exec(st->db, migrate_recalls, NULL, NULL, &msg) != SQLITE_OK) {
        cb_error_set(err, CB_ERR_IO, "%s: upgrading the recalls table: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    if (!readonly && !has_column(st, "ledger", "document_number") &&
        sqlite3_exec(st->db, migrate_ledger, NULL, NULL, &msg) != SQLITE_OK) {
        cb_error_set(err, CB_ERR_IO, "%s: upgrading the ledger: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    if (!readonly && sqlite3_exec(st->db, late_indexes, NULL, NULL, &msg) != SQLITE_OK) {
        cb_error_set(err, CB_ERR_IO, "%s: %s", path, msg ? msg : "indexes");
        sqlite3_free(msg);
        goto fail;
    }
    if (!readonly && !has_column(st, "requests", "fate") &&
        sqlite3_exec(st->db, migrate_requests, NULL, NULL, &msg) != SQLITE_OK) {
        cb_error_set(err, CB_ERR_IO, "%s: upgrading the requests table: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    return st;
fail:
    refca_store_close(st);
    return NULL;
}

void refca_store_close(refca_store_t *st)
{
    int i;

    if (!st)
        return;
    for (i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(st->st[i]);
    for (i = 0; i < QF_COMBINATIONS; i++) {
        sqlite3_finalize(st->page[i]);
        sqlite3_finalize(st->count[i]);
    }
    sqlite3_close(st->db);
    free(st);
}

int refca_store_begin(refca_store_t *st, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_BEGIN, err);

    return s ? step_done(st, s, err, "begin") : -1;
}

int refca_store_commit(refca_store_t *st, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_COMMIT, err);

    return s ? step_done(st, s, err, "commit") : -1;
}

void refca_store_rollback(refca_store_t *st)
{
    sqlite3_stmt *s = stmt(st, ST_ROLLBACK, NULL);

    if (s && sqlite3_get_autocommit(st->db) == 0)
        step_done(st, s, NULL, "rollback");
}

int refca_store_meta_get(refca_store_t *st, const char *name, char **val, size_t *len,
                         cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_META_GET, err);
    const void *b;
    int rc;

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return 1;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return db_fail(st, err, "meta");
    }
    b = sqlite3_column_blob(s, 0);
    *len = (size_t)sqlite3_column_bytes(s, 0);
    if (!(*val = malloc(*len + 1))) {
        sqlite3_reset(s);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory");
    }
    if (*len)
        memcpy(*val, b, *len);
    (*val)[*len] = '\0';
    sqlite3_reset(s);
    return 0;
}

int refca_store_meta_set(refca_store_t *st, const char *name, const void *val, size_t len,
                         cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_META_SET, err);

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, val, (int)len, SQLITE_STATIC);
    return step_done(st, s, err, "meta");
}

int refca_store_cert_put(refca_store_t *st, const refca_cert_row_t *r, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_CERT_PUT, err);

    if (!s)
        return -1;
    bind_text(s, 1, r->serial);
    bind_text(s, 2, r->holder_type);
    bind_text(s, 3, r->holder_id);
    bind_text(s, 4, r->org_code);
    bind_text(s, 5, r->subject);
    bind_text(s, 6, r->device_id);
    sqlite3_bind_blob(s, 7, r->pubkey, (int)r->pubkey_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 8, r->der, (int)r->der_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, r->not_before);
    sqlite3_bind_int64(s, 10, r->not_after);
    bind_text(s, 11, r->status ? r->status : "active");
    sqlite3_bind_int(s, 12, r->revoke_reason);
    sqlite3_bind_int64(s, 13, r->revoked_at);
    bind_text(s, 14, r->replaced_by);
    bind_text(s, 15, r->province);
    sqlite3_bind_int64(s, 16, r->changed_ms ? r->changed_ms : cb_clock_wall_ms());
    return step_done(st, s, err, "insert certificate");
}

/* Reads a certs row (CERT_COLS order) into row. */
static int read_cert(sqlite3_stmt *s, refca_cert_row_t *row, cb_error_t *err)
{
    memset(row, 0, sizeof(*row));
    row->serial = col_text(s, 0);
    row->holder_type = col_text(s, 1);
    row->holder_id = col_text(s, 2);
    row->org_code = col_text(s, 3);
    row->subject = col_text(s, 4);
    row->device_id = col_text(s, 5);
    row->pubkey = col_blob(s, 6, &row->pubkey_len);
    row->der = col_blob(s, 7, &row->der_len);
    row->not_before = sqlite3_column_int64(s, 8);
    row->not_after = sqlite3_column_int64(s, 9);
    row->status = col_text(s, 10);
    row->revoke_reason = sqlite3_column_int(s, 11);
    row->revoked_at = sqlite3_column_int64(s, 12);
    row->replaced_by = col_text(s, 13);
    row->province = col_text(s, 14);
    row->changed_ms = sqlite3_column_int64(s, 15);
    if (!row->serial || !row->holder_type || !row->holder_id || !row->subject || !row->pubkey ||
        !row->der || !row->status) {
        refca_cert_row_clear(row);
        return cb_error_set(err, CB_ERR_NOMEM, "out of memory reading a certificate");
    }
    return 0;
}

int refca_store_cert_get(refca_store_t *st, const char *serial, refca_cert_row_t *row,
                         cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_CERT_GET, err);
    int rc;

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rc = read_cert(s, row, err);
    else if (rc == SQLITE_DONE)
        rc = 1;
    else
        rc = db_fail(st, err, "certificate");
    sqlite3_reset(s);
    return rc;
}

int refca_store_cert_revoke(refca_store_t *st, const char *serial, int reason, int64_t at,
                            const char *replaced_by, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_CERT_REVOKE, err);

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, reason);
    sqlite3_bind_int64(s, 3, at);
    bind_text(s, 4, replaced_by);
    sqlite3_bind_int64(s, 5, cb_clock_wall_ms());
    return step_done(st, s, err, "revoke");
}

/* Runs a one-value count query. */
static int64_t count_of(refca_store_t *st, int id, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, id, err);
    int64_t n = -1;

    if (!s)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    else
        db_fail(st, err, "count");
    sqlite3_reset(s);
    return n;
}

int64_t refca_store_cert_count(refca_store_t *st, cb_error_t *err)
{
    return count_of(st, ST_CERT_COUNT, err);
}

void refca_cert_row_clear(refca_cert_row_t *row)
{
    free(row->serial);
    free(row->holder_type);
    free(row->holder_id);
    free(row->org_code);
    free(row->subject);
    free(row->device_id);
    free(row->pubkey);
    free(row->der);
    free(row->status);
    free(row->replaced_by);
    free(row->province);
    memset(row, 0, sizeof(*row));
}

int refca_store_cert_active(refca_store_t *st, const char *holder_type, const char *holder_id,
                            const char *org_code,
                            int (*fn)(const refca_cert_row_t *row, void *opaque), void *opaque,
                            cb_error_t *err)
{
    int id = holder_id && org_code ? ST_CERT_BY_HOLDER_ORG
             : holder_id           ? ST_CERT_BY_HOLDER
                                   : ST_CERT_BY_ORG;
    sqlite3_stmt *s = stmt(st, id, err);
    refca_cert_row_t row;
    int rc;

    if (!s)
        return -1;
    bind_text(s, 1, holder_type);
    bind_text(s, 2, holder_id);
    bind_text(s, 3, org_code);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int stop;
        if (read_cert(s, &row, err) < 0) {
            sqlite3_reset(s);
            return -1;
        }
        stop = fn(&row, opaque);
        refca_cert_row_clear(&row);
        if (stop) {
            sqlite3_reset(s);
            return 0;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, err, "lookup");
}

int refca_store_cert_revoked(refca_store_t *st,
                             int (*fn)(const char *serial, int reason, int64_t at, void *opaque),
                             void *opaque, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_CERT_REVOKED, err);
    int rc;

    if (!s)
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (fn((const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
               sqlite3_column_int64(s, 2), opaque)) {
            sqlite3_reset(s);
            return -1;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, err, "revoked list");
}

/* Answers 1 when the one-parameter query finds a row, 0 when not. */
static int exists(refca_store_t *st, int id, const char *arg, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, id, err);
    int rc;

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : db_fail(st, err, "exists");
}

int refca_store_device_known(refca_store_t *st, const char *device_id, cb_error_t *err)
{
    return exists(st, ST_DEVICE_KNOWN, device_id, err);
}

int refca_store_device_recall(refca_store_t *st, const char *device_id, int64_t at_ms,
                              cb_error_t *err)
{
    int rc = exists(st, ST_RECALL_GET, device_id, err);
    sqlite3_stmt *s;

    if (rc != 0)
        return rc;
    if (!(s = stmt(st, ST_RECALL_PUT, err)))
        return -1;
    sqlite3_bind_text(s, 1, device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, at_ms);
    return step_done(st, s, err, "recall");
}

int refca_store_idem_get(refca_store_t *st, const char *key, char **route, int *status, char **body,
                         cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_IDEM_GET, err);
    int rc;

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *route = col_text(s, 0);
        *status = sqlite3_column_int(s, 1);
        *body = col_text(s, 2);
        rc = (*route && *body) ? 0 : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        if (rc < 0) {
            free(*route);
            free(*body);
            *route = *body = NULL;
        }
    } else {
        rc = rc == SQLITE_DONE ? 1 : db_fail(st, err, "idempotency");
    }
    sqlite3_reset(s);
    return rc;
}

int refca_store_idem_put(refca_store_t *st, const char *key, const char *route, int status,
                         const char *body, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_IDEM_PUT, err);

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, route, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, status);
    sqlite3_bind_text(s, 4, body, -1, SQLITE_STATIC);
    return step_done(st, s, err, "idempotency");
}

int refca_store_request_put(refca_store_t *st, const refca_request_row_t *r, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_REQ_PUT, err);

    if (!s)
        return -1;
    bind_text(s, 1, r->id);
    bind_text(s, 2, r->state);
    bind_text(s, 3, r->op);
    bind_text(s, 4, r->target);
    bind_text(s, 5, r->params);
    bind_text(s, 6, r->idem_key);
    sqlite3_bind_int64(s, 7, r->due_ms);
    sqlite3_bind_int(s, 8, r->status);
    bind_text(s, 9, r->body);
    bind_text(s, 10, r->fate ? r->fate : "COMPLETED");
    sqlite3_bind_int(s, 11, r->min_polls);
    return step_done(st, s, err, "request");
}

int refca_store_request_get(refca_store_t *st, const char *id, refca_request_row_t *row,
                            cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_REQ_GET, err);
    int rc;

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(row, 0, sizeof(*row));
        row->id = col_text(s, 0);
        row->state = col_text(s, 1);
        row->op = col_text(s, 2);
        row->target = col_text(s, 3);
        row->params = col_text(s, 4);
        row->idem_key = col_text(s, 5);
        row->due_ms = sqlite3_column_int64(s, 6);
        row->status = sqlite3_column_int(s, 7);
        row->body = col_text(s, 8);
        row->fate = col_text(s, 9);
        row->min_polls = sqlite3_column_int(s, 10);
        row->polls = sqlite3_column_int(s, 11);
        rc = 0;
        if (!row->id || !row->state || !row->op || !row->fate) {
            refca_request_row_clear(row);
            rc = cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        }
    } else {
        rc = rc == SQLITE_DONE ? 1 : db_fail(st, err, "request");
    }
    sqlite3_reset(s);
    return rc;
}

int refca_store_request_finish(refca_store_t *st, const char *id, const char *state, int status,
                               const char *body, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_REQ_FINISH, err);

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, status);
    bind_text(s, 4, body);
    return step_done(st, s, err, "request");
}

int refca_store_request_polled(refca_store_t *st, const char *id, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_REQ_POLLED, err);

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    return step_done(st, s, err, "request poll");
}

int refca_store_request_due(refca_store_t *st, int64_t now_ms, char **ids, int max, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_REQ_DUE, err);
    int n = 0, rc;

    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int(s, 2, max);
    while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(ids[n] = col_text(s, 0)))
            break;
        n++;
    }
    sqlite3_reset(s);
    return n;
}

void refca_request_row_clear(refca_request_row_t *row)
{
    free(row->id);
    free(row->state);
    free(row->op);
    free(row->target);
    free(row->params);
    free(row->idem_key);
    free(row->body);
    free(row->fate);
    memset(row, 0, sizeof(*row));
}

int refca_store_ledger_add(refca_store_t *st, const char *op, const char *serial,
                           const char *new_serial, const char *device_id, int reason,
                           const char *idem_key, const char *request_id,
                           const char *document_number, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_LEDGER_ADD, err);

    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, cb_clock_wall_ms());
    bind_text(s, 2, op);
    bind_text(s, 3, serial);
    bind_text(s, 4, new_serial);
    bind_text(s, 5, device_id);
    sqlite3_bind_int(s, 6, reason);
    bind_text(s, 7, idem_key);
    bind_text(s, 8, request_id);
    bind_text(s, 9, document_number);
    return step_done(st, s, err, "ledger");
}

int refca_store_ledger_each(refca_store_t *st, int64_t after_seq, int64_t limit,
                            int (*fn)(const refca_ledger_row_t *row, void *opaque), void *opaque,
                            cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_LEDGER_EACH, err);
    refca_ledger_row_t row;
    int rc;

    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, after_seq);
    sqlite3_bind_int64(s, 2, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row.seq = sqlite3_column_int64(s, 0);
        row.at_ms = sqlite3_column_int64(s, 1);
        row.op = (const char *)sqlite3_column_text(s, 2);
        row.serial = (const char *)sqlite3_column_text(s, 3);
        row.new_serial = (const char *)sqlite3_column_text(s, 4);
        row.device_id = (const char *)sqlite3_column_text(s, 5);
        row.reason = sqlite3_column_int(s, 6);
        row.idem_key = (const char *)sqlite3_column_text(s, 7);
        row.request_id = (const char *)sqlite3_column_text(s, 8);
        row.document_number = (const char *)sqlite3_column_text(s, 9);
        if (fn(&row, opaque)) {
            sqlite3_reset(s);
            return -1;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, err, "ledger");
}

int64_t refca_store_ledger_count(refca_store_t *st, cb_error_t *err)
{
    return count_of(st, ST_LEDGER_COUNT, err);
}

/* The statement of a certificate page (or its count, when count) for the
 * filters in mask: made on first use and kept. Parameters: ?1 after rowid,
 * ?2 snapshot rowid (0: none), ?3 holder type, ?4 holder id, ?5 org code,
 * ?6 province, ?7 status, ?8 changed since (ms), ?9 limit. */
static sqlite3_stmt *page_stmt(refca_store_t *st, unsigned mask, bool count, cb_error_t *err)
{
    sqlite3_stmt **slot = count ? &st->count[mask] : &st->page[mask];
    char q[1024];
    int n;

    if (*slot) {
        sqlite3_reset(*slot);
        sqlite3_clear_bindings(*slot);
        return *slot;
    }
    n = snprintf(
        q, sizeof(q),
        "SELECT %s FROM certs WHERE rowid > ?1 AND (?2 = 0 OR rowid <= ?2)%s%s%s%s%s%s%s",
        count ? "count(*)" : CERT_COLS ", rowid",
        mask & QF_HOLDER_TYPE ? " AND holder_type = ?3" : "",
        mask & QF_HOLDER_ID ? " AND holder_id = ?4" : "",
        mask & QF_ORG_CODE ? " AND org_code = ?5" : "",
        mask & QF_PROVINCE ? " AND province = ?6" : "", mask & QF_STATUS ? " AND status = ?7" : "",
        mask & QF_CHANGED ? " AND changed_ms >= ?8" : "", count ? "" : " ORDER BY rowid LIMIT ?9");
    if (n < 0 || (size_t)n >= sizeof(q)) {
        cb_error_set(err, CB_ERR_INTERNAL, "page query too long");
        return NULL;
    }
    if (sqlite3_prepare_v3(st->db, q, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
        db_fail(st, err, "prepare page");
        return NULL;
    }
    return *slot;
}

/* Binds q's parameters to s (a parameter the statement does not use is
 * refused by SQLite with SQLITE_RANGE and ignored). */
static void page_bind(const refca_cert_query_t *q, sqlite3_stmt *s)
{
    sqlite3_bind_int64(s, 1, q->after_rowid);
    sqlite3_bind_int64(s, 2, q->snap_rowid);
    bind_text(s, 3, q->holder_type);
    bind_text(s, 4, q->holder_id);
    bind_text(s, 5, q->org_code);
    bind_text(s, 6, q->province);
    bind_text(s, 7, q->status);
    sqlite3_bind_int64(s, 8, q->changed_since_ms);
    sqlite3_bind_int(s, 9, q->limit);
}

/* The filter bits of q. */
static unsigned page_mask(const refca_cert_query_t *q)
{
    return (q->holder_type ? QF_HOLDER_TYPE : 0) | (q->holder_id ? QF_HOLDER_ID : 0) |
           (q->org_code ? QF_ORG_CODE : 0) | (q->province ? QF_PROVINCE : 0) |
           (q->status ? QF_STATUS : 0) | (q->changed_since_ms > 0 ? QF_CHANGED : 0);
}

int refca_store_cert_page(refca_store_t *st, const refca_cert_query_t *q,
                          int (*fn)(const refca_cert_row_t *row, int64_t rowid, void *opaque),
                          void *opaque, cb_error_t *err)
{
    sqlite3_stmt *s = page_stmt(st, page_mask(q), false, err);
    refca_cert_row_t row;
    int rc;

    if (!s)
        return -1;
    page_bind(q, s);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int stop;
        if (read_cert(s, &row, err) < 0) {
            sqlite3_reset(s);
            return -1;
        }
        stop = fn(&row, sqlite3_column_int64(s, 16), opaque);
        refca_cert_row_clear(&row);
        if (stop) {
            sqlite3_reset(s);
            return cb_error_set(err, CB_ERR_NOMEM, "out of memory listing certificates");
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, err, "page");
}

int64_t refca_store_cert_page_count(refca_store_t *st, const refca_cert_query_t *q, cb_error_t *err)
{
    sqlite3_stmt *s = page_stmt(st, page_mask(q), true, err);
    int64_t n = -1;

    if (!s)
        return -1;
    page_bind(q, s);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    else
        db_fail(st, err, "count");
    sqlite3_reset(s);
    return n;
}

int64_t refca_store_cert_max_rowid(refca_store_t *st, cb_error_t *err)
{
    return count_of(st, ST_CERT_MAX_ROWID, err);
}

int refca_store_cert_provinces(refca_store_t *st,
                               char *(*province_of)(const char *subject, void *opaque),
                               void *opaque, cb_error_t *err)
{
    for (;;) {
        sqlite3_stmt *s = stmt(st, ST_CERT_NO_PROVINCE, err), *u;
        char *serials[512], *provs[512];
        int n = 0, i, rc = 0;

        if (!s)
            return -1;
        while (n < 512 && sqlite3_step(s) == SQLITE_ROW) {
            const char *subject = (const char *)sqlite3_column_text(s, 1);
            serials[n] = col_text(s, 0);
            provs[n] = province_of(subject ? subject : "", opaque);
            if (!serials[n] || !provs[n]) {
                free(serials[n]);
                free(provs[n]);
                rc = -1;
                break;
            }
            n++;
        }
        sqlite3_reset(s);
        for (i = 0; i < n; i++) {
            if (rc == 0 && (u = stmt(st, ST_CERT_SET_PROVINCE, err))) {
                sqlite3_bind_text(u, 1, serials[i], -1, SQLITE_STATIC);
                sqlite3_bind_text(u, 2, provs[i], -1, SQLITE_STATIC);
                rc = step_done(st, u, err, "province");
            } else if (rc == 0) {
                rc = -1;
            }
            free(serials[i]);
            free(provs[i]);
        }
        if (rc < 0)
            return err && err->msg[0] ? -1 : cb_error_set(err, CB_ERR_NOMEM, "out of memory");
        if (n == 0)
            return 0;
    }
}

int refca_store_device_returned(refca_store_t *st, const char *device_id, int64_t at_ms,
                                int64_t *recalled_ms, int64_t *returned_ms, cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_RETURN_GET, err);
    int rc;

    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, device_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return 2;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return db_fail(st, err, "return");
    }
    *recalled_ms = sqlite3_column_int64(s, 0);
    if (sqlite3_column_type(s, 1) != SQLITE_NULL) {
        *returned_ms = sqlite3_column_int64(s, 1);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    *returned_ms = at_ms;
    if (!(s = stmt(st, ST_RETURN_SET, err)))
        return -1;
    sqlite3_bind_text(s, 1, device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, at_ms);
    return step_done(st, s, err, "return");
}

int refca_store_device_page(refca_store_t *st, const char *status, const char *org_code,
                            int64_t after_rowid, int limit,
                            int (*fn)(const refca_device_row_t *row, void *opaque), void *opaque,
                            cb_error_t *err)
{
    sqlite3_stmt *s = stmt(st, ST_DEVICE_PAGE, err);
    refca_device_row_t row;
    char *ids[REFCA_DEVICE_PAGE_MAX];
    int64_t rowids[REFCA_DEVICE_PAGE_MAX], at[REFCA_DEVICE_PAGE_MAX], ret[REFCA_DEVICE_PAGE_MAX];
    bool has_ret[REFCA_DEVICE_PAGE_MAX];
    int n = 0, i, rc;

    if (!s)
        return -1;
    if (limit > REFCA_DEVICE_PAGE_MAX)
        limit = REFCA_DEVICE_PAGE_MAX;
    sqlite3_bind_int64(s, 1, after_rowid);
    sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
    bind_text(s, 3, org_code);
    sqlite3_bind_int(s, 4, limit);
    /* the tokens first, then their holders (one statement at a time) */
    while (n < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        rowids[n] = sqlite3_column_int64(s, 0);
        if (!(ids[n] = col_text(s, 1)))
            break;
        at[n] = sqlite3_column_int64(s, 2);
        has_ret[n] = sqlite3_column_type(s, 3) != SQLITE_NULL;
        ret[n] = sqlite3_column_int64(s, 3);
        n++;
    }
    sqlite3_reset(s);
    for (rc = 0, i = 0; i < n; i++) {
        sqlite3_stmt *h = rc == 0 ? stmt(st, ST_DEVICE_HOLDER, err) : NULL;
        memset(&row, 0, sizeof(row));
        row.rowid = rowids[i];
        row.device_id = ids[i];
        row.recalled_ms = at[i];
        row.returned_ms = has_ret[i] ? ret[i] : 0;
        if (h) {
            sqlite3_bind_text(h, 1, ids[i], -1, SQLITE_STATIC);
            if (sqlite3_step(h) == SQLITE_ROW) {
                row.holder_type = (const char *)sqlite3_column_text(h, 0);
                row.holder_id = (const char *)sqlite3_column_text(h, 1);
                row.org_code = (const char *)sqlite3_column_text(h, 2);
                row.subject = (const char *)sqlite3_column_text(h, 3);
            }
            if (fn(&row, opaque))
                rc = cb_error_set(err, CB_ERR_NOMEM, "out of memory listing tokens");
            sqlite3_reset(h);
        } else {
            rc = -1;
        }
        free(ids[i]);
    }
    return rc;
}
