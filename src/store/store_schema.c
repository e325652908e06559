/* SPDX-License-Identifier: MIT */
/* store_schema.c -- the SQLite schema, its version table and migrations. */
#include <errno.h>
#include <stdio.h>

#include <sqlite3.h>

#include "base/err.h"
#include "store/store_int.h"

/*
 * Entry i takes the schema from version i to version i + 1; the array has
 * STORE_SCHEMA_VERSION entries. A released entry is never edited: a change
 * is a new entry (and a bump of STORE_SCHEMA_VERSION). Keys and salts are
 * BLOBs; a hash's key pair is NULL when the account has no keys for it.
 * WITHOUT ROWID: the primary key is the only access path.
 */
static const char *const migrations[] = {
    /* 0 -> 1: accounts. */
    "CREATE TABLE accounts ("
    "  host TEXT NOT NULL CHECK (length(host) > 0),"
    "  node TEXT NOT NULL CHECK (length(node) > 0),"
    "  iterations INTEGER NOT NULL CHECK (iterations > 0),"
    "  salt BLOB NOT NULL,"
    "  sha1_stored BLOB,"
    "  sha1_server BLOB,"
    "  sha256_stored BLOB,"
    "  sha256_server BLOB,"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  PRIMARY KEY (host, node)"
    ") WITHOUT ROWID;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
                   STORE_SCHEMA_VERSION,
               "one migration per schema version");

int
store__sqlite_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_IOERR:
        return XE_IO;
    default:
        return XE_STORE;
    }
}

/* Run sql; on failure put "path: message" in err. */
static int
exec(sqlite3 *db, const char *path, const char *sql, struct buf *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    (void)buf_printf(err, "%s: %s", path, sqlite3_errmsg(db));
    return store__sqlite_err(rc);
}

/* Run a query that yields one integer. */
static int
query_int(sqlite3 *db,
          const char *path,
          const char *sql,
          int64_t *out,
          struct buf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_CORRUPT; /* the version table lost its row */
        }
    }
    if (rc != SQLITE_OK)
        (void)buf_printf(err, "%s: %s", path,
                         rc == SQLITE_CORRUPT && s ? "schema_version is empty"
                                                   : sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? 0 : store__sqlite_err(rc);
}

/* The version recorded in the database: 0 for a new (empty) one. */
static int
read_version(sqlite3 *db, const char *path, int64_t *out, struct buf *err)
{
    int64_t n = 0;
    int rc = query_int(db, path,
                       "SELECT count(*) FROM sqlite_master WHERE "
                       "type = 'table' AND name = 'schema_version'",
                       &n, err);
    if (rc != 0 || n == 0) {
        *out = 0;
        return rc;
    }
    return query_int(db, path, "SELECT version FROM schema_version", out, err);
}

/* Apply the migrations from version v on, inside the caller's
 * transaction. */
static int
migrate_from(sqlite3 *db, const char *path, int64_t v, struct buf *err)
{
    int rc = 0;
    if (v == 0)
        rc = exec(db, path,
                  "CREATE TABLE schema_version ("
                  "  id INTEGER PRIMARY KEY CHECK (id = 0),"
                  "  version INTEGER NOT NULL);"
                  "INSERT INTO schema_version (id, version) VALUES (0, 0);",
                  err);
    for (; rc == 0 && v < STORE_SCHEMA_VERSION; v++) {
        rc = exec(db, path, migrations[v], err);
        char sql[64];
        (void)snprintf(sql, sizeof(sql),
                       "UPDATE schema_version SET version = %d", (int)v + 1);
        if (rc == 0)
            rc = exec(db, path, sql, err);
    }
    return rc;
}

/* Bring the schema to STORE_SCHEMA_VERSION in one transaction. BEGIN
 * IMMEDIATE takes the write lock first, so two processes opening a new
 * database at once (xmuxd and xmuxctl) migrate it once, one after the
 * other. */
int
store__schema_migrate(struct sqlite3 *db, const char *path, struct buf *err)
{
    int rc = exec(db, path, "BEGIN IMMEDIATE", err);
    if (rc != 0)
        return rc;
    int64_t v = 0;
    rc = read_version(db, path, &v, err);
    if (rc == 0 && (v < 0 || v > STORE_SCHEMA_VERSION)) {
        (void)buf_printf(err,
                         "%s: schema version %lld is not one this build "
                         "knows (%d or older)",
                         path, (long long)v, STORE_SCHEMA_VERSION);
        rc = XE_STORE;
    }
    if (rc == 0 && v < STORE_SCHEMA_VERSION)
        rc = migrate_from(db, path, v, err);
    if (rc == 0)
        return exec(db, path, "COMMIT", err);
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
