/* SPDX-License-Identifier: MIT */
/* store_sqlite.c -- SQLite back end: WAL, durable writes, cached statements. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/alloc.h"
#include "base/err.h"
#include "store/store_int.h"

/* How long a writer waits for another process (xmuxctl next to xmuxd)
 * to release the database lock before giving up with -EBUSY. */
#define SQ_BUSY_MS 5000

enum sq_stmt {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_GET,
    SQ_INSERT,
    SQ_UPSERT,
    SQ_UPDATE,
    SQ_DELETE,
    SQ_LIST,
    SQ_COUNT_HOST,
    SQ_COUNT_ALL,
    SQ_NSTMT,
};

/* The credential columns, in the order row_read expects them. */
#define SQ_COLS                                                   \
    "iterations, salt, sha1_stored, sha1_server, sha256_stored, " \
    "sha256_server, disabled, created, updated"

/* Parameters: ?1 host, ?2 node, ?3..?9 the credential columns up to
 * disabled, ?10 the time (created on insert, updated always). */
static const char *const sq_sql[SQ_NSTMT] = {
    /* IMMEDIATE: take the write lock up front, so that busy_timeout
     * applies and no read lock ever needs upgrading. */
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_GET] = "SELECT " SQ_COLS " FROM accounts "
               "WHERE host = ?1 AND node = ?2",
    [SQ_INSERT] = "INSERT INTO accounts (host, node, " SQ_COLS ") "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    [SQ_UPSERT] = "INSERT INTO accounts (host, node, " SQ_COLS ") "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) "
                  "ON CONFLICT (host, node) DO UPDATE SET "
                  "iterations = ?3, salt = ?4, sha1_stored = ?5, "
                  "sha1_server = ?6, sha256_stored = ?7, "
                  "sha256_server = ?8, disabled = ?9, updated = ?10",
    [SQ_UPDATE] = "UPDATE accounts SET iterations = ?3, salt = ?4, "
                  "sha1_stored = ?5, sha1_server = ?6, sha256_stored = ?7, "
                  "sha256_server = ?8, disabled = ?9, updated = ?10 "
                  "WHERE host = ?1 AND node = ?2",
    [SQ_DELETE] = "DELETE FROM accounts WHERE host = ?1 AND node = ?2",
    [SQ_LIST] = "SELECT node, " SQ_COLS " FROM accounts "
                "WHERE host = ?1 AND node > ?2 ORDER BY node LIMIT ?3",
    [SQ_COUNT_HOST] = "SELECT count(*) FROM accounts WHERE host = ?1",
    [SQ_COUNT_ALL] = "SELECT count(*) FROM accounts",
};

struct sq_be {
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ_NSTMT];
};

/* Finish with a statement so it can run again and holds no read lock. */
static void
stmt_done(sqlite3_stmt *s)
{
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
}

static void
sq_close(void *be)
{
    struct sq_be *q = be;
    if (q == NULL)
        return;
    for (size_t i = 0; i < SQ_NSTMT; i++)
        (void)sqlite3_finalize(q->stmt[i]);
    /* With every statement finalized this cannot fail with SQLITE_BUSY;
     * the last connection to close checkpoints the WAL into the file. */
    (void)sqlite3_close(q->db);
    x_free(q);
}

/* Copy a BLOB column of exactly n bytes (n == 0: 1..cap bytes, length in
 * *lenp). False if the column has another size. */
static bool
col_blob(sqlite3_stmt *s,
         int col,
         unsigned char *dst,
         size_t n,
         size_t cap,
         size_t *lenp)
{
    const void *p = sqlite3_column_blob(s, col);
    size_t len = (size_t)sqlite3_column_bytes(s, col);
    if (p == NULL || (n != 0 && len != n) || (n == 0 && len > cap))
        return false;
    memcpy(dst, p, len);
    if (lenp)
        *lenp = len;
    return true;
}

/* Read one key pair (stored, server) of klen bytes; NULL columns mean the
 * account has no keys for that hash. */
static bool
col_keys(sqlite3_stmt *s,
         int col,
         unsigned char *stored,
         unsigned char *server,
         size_t klen,
         bool *has)
{
    bool null1 = sqlite3_column_type(s, col) == SQLITE_NULL;
    bool null2 = sqlite3_column_type(s, col + 1) == SQLITE_NULL;
    *has = !null1;
    if (null1 && null2)
        return true;
    return col_blob(s, col, stored, klen, 0, NULL) &&
           col_blob(s, col + 1, server, klen, 0, NULL);
}

/* Read SQ_COLS starting at column c into a; XE_STORE if the row does not
 * hold usable credentials (the file was edited or damaged). */
static int
row_read(sqlite3_stmt *s, int c, struct store_account *a)
{
    struct sasl_creds *cr = &a->creds;
    sqlite3_int64 it = sqlite3_column_int64(s, c);
    if (it <= 0 || it > UINT_MAX)
        return XE_STORE;
    cr->iterations = (unsigned)it;
    if (!col_blob(s, c + 1, cr->salt, 0, sizeof(cr->salt), &cr->salt_len) ||
        cr->salt_len == 0)
        return XE_STORE;
    if (!col_keys(s, c + 2, cr->sha1_stored, cr->sha1_server,
                  sizeof(cr->sha1_stored), &cr->has_sha1) ||
        !col_keys(s, c + 4, cr->sha256_stored, cr->sha256_server,
                  sizeof(cr->sha256_stored), &cr->has_sha256))
        return XE_STORE;
    a->disabled = sqlite3_column_int(s, c + 6) != 0;
    a->created = sqlite3_column_int64(s, c + 7);
    a->updated = sqlite3_column_int64(s, c + 8);
    return 0;
}

static int
sq_get(void *be, const char *host, const char *node, struct store_account *out)
{
    struct sq_be *q = be;
    sqlite3_stmt *s = q->stmt[SQ_GET];
    (void)sqlite3_bind_text(s, 1, host, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(s, 2, node, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int ret;
    if (rc == SQLITE_ROW)
        ret = row_read(s, 0, out);
    else if (rc == SQLITE_DONE)
        ret = XE_NOTFOUND;
    else
        ret = store__sqlite_err(rc);
    stmt_done(s);
    return ret;
}

static void
bind_keys(sqlite3_stmt *s,
          int col,
          bool has,
          const unsigned char *stored,
          const unsigned char *server,
          size_t klen)
{
    if (!has) {
        (void)sqlite3_bind_null(s, col);
        (void)sqlite3_bind_null(s, col + 1);
        return;
    }
    (void)sqlite3_bind_blob(s, col, stored, (int)klen, SQLITE_STATIC);
    (void)sqlite3_bind_blob(s, col + 1, server, (int)klen, SQLITE_STATIC);
}

/* Bind ?1..?10 (see sq_sql); a must outlive the statement's run. */
static void
bind_account(sqlite3_stmt *s, const struct store_account *a, int64_t now)
{
    const struct sasl_creds *c = &a->creds;
    (void)sqlite3_bind_text(s, 1, a->host, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(s, 2, a->node, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(s, 3, (sqlite3_int64)c->iterations);
    (void)sqlite3_bind_blob(s, 4, c->salt, (int)c->salt_len, SQLITE_STATIC);
    bind_keys(s, 5, c->has_sha1, c->sha1_stored, c->sha1_server,
              sizeof(c->sha1_stored));
    bind_keys(s, 7, c->has_sha256, c->sha256_stored, c->sha256_server,
              sizeof(c->sha256_stored));
    (void)sqlite3_bind_int(s, 9, a->disabled ? 1 : 0);
    (void)sqlite3_bind_int64(s, 10, (sqlite3_int64)now);
}

/* Run a statement that returns no rows. */
static int
run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    stmt_done(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Every write is one explicit transaction: begin, the caller's statement,
 * then commit if it worked and roll back if not. With synchronous=FULL,
 * a COMMIT that returned has reached the disk. */
static int
tx_begin(struct sq_be *q)
{
    int rc = run(q->stmt[SQ_BEGIN]);
    return rc == SQLITE_OK ? 0 : store__sqlite_err(rc);
}

static int
tx_end(struct sq_be *q, int ret)
{
    if (ret == 0) {
        int rc = run(q->stmt[SQ_COMMIT]);
        if (rc == SQLITE_OK)
            return 0;
        ret = store__sqlite_err(rc);
    }
    /* A failed COMMIT may leave the transaction open; ROLLBACK ends it
     * either way. */
    if (!sqlite3_get_autocommit(q->db))
        (void)run(q->stmt[SQ_ROLLBACK]);
    return ret;
}

static int
sq_put(void *be,
       const struct store_account *a,
       enum store_put_mode mode,
       int64_t now)
{
    struct sq_be *q = be;
    enum sq_stmt id = mode == STORE_PUT_CREATE   ? SQ_INSERT
                      : mode == STORE_PUT_UPDATE ? SQ_UPDATE
                                                 : SQ_UPSERT;
    sqlite3_stmt *s = q->stmt[id];
    int ret = tx_begin(q);
    if (ret != 0)
        return ret;
    bind_account(s, a, now);
    int rc = run(s);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        ret = XE_STATE;
    else if (rc != SQLITE_OK)
        ret = store__sqlite_err(rc);
    else if (id == SQ_UPDATE && sqlite3_changes(q->db) == 0)
        ret = XE_NOTFOUND;
    return tx_end(q, ret);
}

static int
sq_del(void *be, const char *host, const char *node)
{
    struct sq_be *q = be;
    sqlite3_stmt *s = q->stmt[SQ_DELETE];
    int ret = tx_begin(q);
    if (ret != 0)
        return ret;
    (void)sqlite3_bind_text(s, 1, host, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(s, 2, node, -1, SQLITE_STATIC);
    int rc = run(s);
    if (rc != SQLITE_OK)
        ret = store__sqlite_err(rc);
    else if (sqlite3_changes(q->db) == 0)
        ret = XE_NOTFOUND;
    return tx_end(q, ret);
}

static int
sq_list(void *be,
        const char *host,
        const char *after,
        size_t limit,
        struct store_list *out)
{
    struct sq_be *q = be;
    sqlite3_stmt *s = q->stmt[SQ_LIST];
    (void)sqlite3_bind_text(s, 1, host, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(s, 2, after, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(s, 3, (sqlite3_int64)limit);
    int rc = SQLITE_DONE, ret = 0;
    while (ret == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *node = (const char *)sqlite3_column_text(s, 0);
        if (node == NULL) {
            ret = XE_STORE;
            break;
        }
        ret = row_read(s, 1, store__list_add(out, host, node));
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = store__sqlite_err(rc);
    stmt_done(s);
    return ret;
}

static int
sq_count(void *be, const char *host, size_t *out)
{
    struct sq_be *q = be;
    sqlite3_stmt *s = q->stmt[host ? SQ_COUNT_HOST : SQ_COUNT_ALL];
    if (host)
        (void)sqlite3_bind_text(s, 1, host, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *out = (size_t)sqlite3_column_int64(s, 0);
    else
        ret = store__sqlite_err(rc);
    stmt_done(s);
    return ret;
}

const struct store_ops store__sqlite_ops = {
    .name = "sqlite",
    .get = sq_get,
    .put = sq_put,
    .del = sq_del,
    .list = sq_list,
    .count = sq_count,
    .close = sq_close,
};

/* Make the directory entry of a new file durable. */
static void
sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir =
        slash ? x_strndup(path, slash == path ? 1 : (size_t)(slash - path))
              : x_strdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        (void)close(fd);
    }
    x_free(dir);
}

/* Create the file with mode 0600 before SQLite sees it: SQLite would use
 * 0644 (less the umask), and it gives the -wal and -shm files the mode of
 * the database. An existing file keeps its mode. */
static int
create_private(const char *path, struct buf *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  S_IRUSR | S_IWUSR);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        int e = errno;
        (void)buf_printf(err, "%s: %s", path, strerror(e));
        return -e;
    }
    /* A umask such as 0277 would leave the owner unable to write. */
    int rc = fchmod(fd, S_IRUSR | S_IWUSR) == 0 ? 0 : -errno;
    (void)close(fd);
    if (rc != 0) {
        (void)buf_printf(err, "%s: %s", path, strerror(-rc));
        return rc;
    }
    sync_parent(path);
    return 0;
}

/* Connection settings, each explained in docs/store.md. journal_mode is
 * a property of the file (persistent); the others are per connection. */
static int
configure(sqlite3 *db, const char *path, struct buf *err)
{
    (void)sqlite3_busy_timeout(db, SQ_BUSY_MS);
    (void)sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    (void)sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(s, 0);
        rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_ERROR;
        if (rc != SQLITE_OK)
            (void)buf_printf(err, "%s: cannot enable WAL (journal mode %s)",
                             path, mode ? mode : "unknown");
    } else if (rc == SQLITE_OK) {
        rc = SQLITE_ERROR;
    }
    if (rc != SQLITE_OK && buf_len(err) == 0)
        (void)buf_printf(err, "%s: %s", path, sqlite3_errmsg(db));
    (void)sqlite3_finalize(s);
    if (rc != SQLITE_OK)
        return store__sqlite_err(rc);
    rc = sqlite3_exec(db,
                      "PRAGMA synchronous = FULL;"
                      "PRAGMA foreign_keys = ON;"
                      "PRAGMA secure_delete = ON;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        (void)buf_printf(err, "%s: %s", path, sqlite3_errmsg(db));
        return store__sqlite_err(rc);
    }
    return 0;
}

static int
prepare_all(struct sq_be *q, const char *path, struct buf *err)
{
    for (size_t i = 0; i < SQ_NSTMT; i++) {
        int rc = sqlite3_prepare_v3(
            q->db, sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            (void)buf_printf(err, "%s: %s", path, sqlite3_errmsg(q->db));
            return store__sqlite_err(rc);
        }
    }
    return 0;
}

int
store__sqlite_open(const char *path, void **be, struct buf *err)
{
    int rc = create_private(path, err);
    if (rc != 0)
        return rc;
    struct sq_be *q = x_calloc(1, sizeof(*q));
    /* NOMUTEX: one thread at a time uses the connection (the opener,
     * then the worker); EXRESCODE: tell a duplicate key from other
     * constraint failures. */
    int src = sqlite3_open_v2(path, &q->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                                  SQLITE_OPEN_EXRESCODE,
                              NULL);
    if (src != SQLITE_OK) {
        (void)buf_printf(err, "%s: %s", path,
                         q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(src));
        rc = store__sqlite_err(src);
        goto fail;
    }
    rc = configure(q->db, path, err);
    if (rc == 0)
        rc = store__schema_migrate(q->db, path, err);
    if (rc == 0)
        rc = prepare_all(q, path, err);
    if (rc != 0)
        goto fail;
    *be = q;
    return 0;

fail:
    sq_close(q);
    return rc;
}
