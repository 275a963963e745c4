/*
 * store.c — the SQLite ledger (store.h): blocks with their certificates,
 * txs with their indexes, the state derived from the chain, and the
 * consensus metadata, in one file DIR/ledger.db.
 *
 * Layout (schema_version 6):
 *   meta(key, value)          schema_version, chain_id
 *   consensus_meta(key, value) the node's view and votes (store_meta_*)
 *   blocks(height PK, ts, tx_count, header, cert)
 *                            header and certificate in their short
 *                            at-rest forms (block.h): the signed header
 *                            without what the genesis, the row's columns
 *                            and, for a block of up to 64 txs, its txs
 *                            give again (chain_id, proposer key, height,
 *                            timestamp, tx count, tx_root, sig_root), all
 *                            put back on every read; the certificate with
 *                            variable-length integers.  100 + 200 bytes
 *                            for a 1-tx block with 4 Ed25519 nodes instead
 *                            of 192 + 214.  Rows that schema 4 wrote keep
 *                            their longer forms and read as before.
 *   principals(id PK, key UNIQUE)  every public key that signed a tx or
 *                            owns an object, key = scheme byte || key;
 *                            txs and objects name it by id, which spares
 *                            a 33-byte (Ed25519) to 257-byte (RSA) key in
 *                            every txs row, sender index entry and object
 *   txs(seq PK, idp, type, sender, domain, request_seq, raw)
 *                            seq = height << 20 | idx, i.e. chain order, so
 *                            a block's txs are one rowid range and the
 *                            raw block is header || (u32 len || raw)*.
 *                            Each tx's bytes are stored once; sender is a
 *                            principals id; a response's request_seq is
 *                            its request's row.  idp is the first 8 bytes
 *                            of the tx id (big-endian, signed), indexed
 *                            but not UNIQUE: a lookup by id reads the rows
 *                            with that prefix and keeps the one whose
 *                            bytes hash to the id (tx_raw_id).  The full
 *                            id is not stored — it is the hash of the
 *                            stored bytes.  Why a prefix: tx ids are
 *                            random, so every insert into an index by id
 *                            lands on some page in the middle, and a block
 *                            of k txs rewrites up to k pages of it in the
 *                            log; 40-byte entries (schema 3) made that
 *                            index 2.5 x larger than 8-byte ones, and the
 *                            node wrote 5.9 KB per tx at 120 000 txs.  Not
 *                            UNIQUE because 64-bit prefixes can be made to
 *                            collide (2^32 hashes) and a refused insert
 *                            would stop the node; validation already
 *                            refuses a tx id that is on chain.
 *   tx_ids(idp, seq)         the index by id prefix (schema 6; an index on
 *                            txs.idp before), written in sorted batches:
 *                            see IDS_BITS.  Each block of k txs wrote
 *                            up to k scattered 16 KiB pages of the old
 *                            index to the log, so a node wrote more per
 *                            tx the longer its chain (2.6 -> 6.3 KB per
 *                            tx over 400 000 txs); now a block writes a
 *                            contiguous slice of it.
 *   tx_objects(kind, name, seq)  objects a request names (its object, the
 *                            --vm of a vnf, the members of a chain); an
 *                            object's timeline is those requests plus the
 *                            responses whose request_seq points at them.
 *   tenants, objects         the derived state, rewritten per block from
 *                            state_foreach_dirty; an object's owner is a
 *                            principals id, its last request a txs seq,
 *                            and when its spec is that request's
 *                            instruction as it stands (spec_src = 1, a
 *                            create) the spec is read from the request
 *                            instead of stored a second time
 *   open_requests(seq)       requests on chain without a response, by
 *                            their txs row: an insert appends to the
 *                            b-tree (schema 1 keyed them by the random tx
 *                            id, and each insert landed on some page in
 *                            the middle; a writable open migrates it)
 *   attestations(domain, ...) the last ATTEST tx of each domain (state.h)
 *
 * Schema 3 kept each tx's full id in its row and a UNIQUE index on it,
 * its height, index and timestamp as columns, and a response's request
 * by id.  Schema 2 also kept the sender's and the owner's key in each row, the block
 * hash and prev_hash as columns with an index by hash that no statement
 * used, signed headers, and each object's last request id and full spec;
 * schema 1 also keyed open_requests by tx id.  Together about 200 bytes
 * per request at one tx per block (docs/benchmarks.md, growth).  A writable open migrates an older
 * file in one SQL transaction; a read-only open reads it as it is.
 *
 * A response's domain column is its request's target domain, so a domain
 * timeline shows both halves.  Every statement is prepared once at open;
 * an append is one BEGIN IMMEDIATE ... COMMIT, so a block costs one WAL
 * fsync whatever its size.  Inserts inside it use OR ROLLBACK: any
 * failure aborts the whole block anyway, and it spares SQLite a statement
 * journal per row.  The CPU cost is SQLite's b-tree work, about 7 us per
 * request tx (txs row + 4 indexes, tx_objects, open_requests, objects).
 *
 * Checkpoints (copying the write-ahead log back into the database file)
 * run on a thread of their own with a second connection: SQLite's
 * automatic checkpoint would run them inside the COMMIT of whichever block
 * crossed the threshold, on the thread that appends blocks.  If that
 * thread falls far behind (the log past CKPT_HARD_PAGES), the writer
 * checkpoints itself, so the log stays bounded.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sqlite3.h>

#include "instr.h"
#include "../lib/dbmeta.h"
#include "../lib/map.h"
#include "../lib/util.h"

#define STORE_SCHEMA_VERSION 6
#define STORE_DB_NAME "ledger.db"
#define STORE_BUSY_MS 5000
#define CKPT_PAGES 4096              /* log frames that wake the checkpointer */
#define CKPT_HARD_FACTOR 4           /* x CKPT_PAGES: the writer checkpoints itself */
#define SEQ_SHIFT 20
/* tx_ids is written in sorted batches.  A new tx's id waits in memory, in
 * one of 2^bits buckets chosen by its top bits, and each tx appended moves
 * a sweep on by one bucket, writing out what waits there.  A block of k
 * txs then dirties a contiguous k/2^bits-th of the index instead of k
 * pages scattered over all of it, and an id is in tx_ids before 2^bits
 * more txs are appended.  IDS_BITS by default (store_set_id_sweep); no
 * id waits longer than IDS_SWEEP txs whatever the setting. */
#define IDS_BITS 16
#define IDS_SWEEP (1u << IDS_BITS)
#define SEQ_MAX_HEIGHT ((uint64_t)1 << 42)

_Static_assert(BLOCK_MAX_TXS < (1 << SEQ_SHIFT), "tx index must fit in the seq's low bits");
/* the statements below spell the shift out */
_Static_assert(SEQ_SHIFT == 20, "SEQ_HEIGHT and SEQ_IDX assume a shift of 20");
#define SEQ_HEIGHT(col) "(" col " >> 20)"
#define SEQ_IDX(col) "(" col " & 1048575)"

#define TXS_DEF                                                                      \
	"(seq INTEGER PRIMARY KEY, idp INTEGER NOT NULL, type INTEGER NOT NULL,"     \
	" sender INTEGER NOT NULL, domain TEXT, request_seq INTEGER, raw BLOB NOT NULL)"
/* what schema 3 made (the 2 -> 3 step of a migration builds it) */
#define TXS_DEF_V3                                                                  \
	"(seq INTEGER PRIMARY KEY, height INTEGER NOT NULL, idx INTEGER NOT NULL,"  \
	" id BLOB NOT NULL UNIQUE, type INTEGER NOT NULL, sender INTEGER NOT NULL," \
	" domain TEXT, ts INTEGER NOT NULL, request_id BLOB, raw BLOB NOT NULL)"
#define OBJECTS_DEF                                                                   \
	"(kind INTEGER NOT NULL, name TEXT NOT NULL, domain TEXT NOT NULL,"           \
	" owner INTEGER NOT NULL, status INTEGER NOT NULL, spec TEXT, pending_spec TEXT," \
	" last_request INTEGER NOT NULL, spec_src INTEGER NOT NULL,"                  \
	" height INTEGER NOT NULL, PRIMARY KEY (kind, name)) WITHOUT ROWID"

static const char SCHEMA_SQL[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS consensus_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS blocks ("
	" height INTEGER PRIMARY KEY,"
	" ts INTEGER NOT NULL, tx_count INTEGER NOT NULL, header BLOB NOT NULL, cert BLOB NOT NULL);"
	"DROP INDEX IF EXISTS blocks_hash;"
	/* timestamps rise with height: first_since searches the rowid */
	"DROP INDEX IF EXISTS blocks_ts;"
	"CREATE TABLE IF NOT EXISTS principals (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS txs " TXS_DEF ";"
	"CREATE INDEX IF NOT EXISTS txs_sender ON txs(sender, seq);"
	/* only the rare types: a query for requests or responses (half of all
	 * txs each) reads the table in order instead */
	"DROP INDEX IF EXISTS txs_type;"
	"CREATE INDEX IF NOT EXISTS txs_type_rare ON txs(type, seq) WHERE type >= 3;"
	"CREATE INDEX IF NOT EXISTS txs_domain ON txs(domain, seq);"
	"CREATE TABLE IF NOT EXISTS tx_objects ("
	" kind INTEGER NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL,"
	" PRIMARY KEY (kind, name, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS tenants ("
	" domain TEXT NOT NULL, scheme INTEGER NOT NULL, key BLOB NOT NULL, name TEXT NOT NULL,"
	" ops INTEGER NOT NULL, max_vms INTEGER NOT NULL, max_vnfs INTEGER NOT NULL,"
	" max_sfcs INTEGER NOT NULL, max_chain INTEGER NOT NULL, rate_per_min INTEGER NOT NULL,"
	" revoked INTEGER NOT NULL, height INTEGER NOT NULL,"
	" PRIMARY KEY (domain, scheme, key)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS objects " OBJECTS_DEF ";"
	"CREATE TABLE IF NOT EXISTS open_requests (seq INTEGER PRIMARY KEY);"
	"CREATE TABLE IF NOT EXISTS tx_ids (idp INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" PRIMARY KEY (idp, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS attestations ("
	" domain TEXT PRIMARY KEY, tx_id BLOB NOT NULL, attested_height INTEGER NOT NULL,"
	" objects INTEGER NOT NULL, problems INTEGER NOT NULL, digest BLOB NOT NULL,"
	" ts INTEGER NOT NULL, height INTEGER NOT NULL, block_ts INTEGER NOT NULL) WITHOUT ROWID;";

/* The indexes on schema 4's own txs columns (after a migration made them);
 * tx_ids took txs_idp's place in schema 6 (after migrate_v5 filled it). */
static const char TXS_INDEX_SQL[] =
	"DROP INDEX IF EXISTS txs_idp;"
	"CREATE INDEX IF NOT EXISTS txs_request ON txs(request_seq) WHERE request_seq IS NOT NULL;";

/* Filters shared by the tx queries; the driving index differs per statement.
 * ?1 sender, ?2 type, ?3 domain, ?4 object kind, ?5 object name,
 * ?6 first seq, ?7 limit (-1: none). */
#define Q_SELECT "SELECT " SEQ_HEIGHT("t.seq") ", " SEQ_IDX("t.seq") ", b.ts, t.raw FROM "
#define Q_JOIN_BLOCK " JOIN blocks b ON b.height = " SEQ_HEIGHT("t.seq")
#define Q_FILTER                                                                        \
	" AND t.seq >= ?6 AND (?1 IS NULL OR t.sender = ?1) AND (?2 = 0 OR t.type = ?2)" \
	" AND (?3 IS NULL OR t.domain = ?3) ORDER BY t.seq LIMIT ?7"

enum {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_TIP,
	S_BLOCK_INS, S_TX_INS, S_TX_BY_ID, S_OBJREF_INS,
	S_OPEN_INS, S_OPEN_DEL, S_TENANT_PUT, S_OBJECT_PUT, S_OBJECT_DEL,
	S_BLOCK_GET, S_BLOCK_TXS, S_TX_AT, S_RESP_FIND, S_META_PUT, S_META_GET, S_META_DEL, S_META_LIST,
	S_LOAD_TENANTS, S_LOAD_OBJECTS, S_LOAD_OPEN, S_LOAD_RECENT,
	S_Q_ALL, S_Q_SENDER, S_Q_TYPE, S_Q_DOMAIN, S_Q_OBJECT,
	S_ATTEST_PUT, S_LOAD_ATTESTS, S_BLOCK_TS,
	S_PRINCIPAL_GET, S_PRINCIPAL_INS, S_IDS_INS, S_IDS_HAS, S_IDS_AFTER,
	S_COUNT
};

static const char *const STMT_SQL[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_TIP] = "SELECT height FROM blocks ORDER BY height DESC LIMIT 1",
	[S_BLOCK_INS] = "INSERT OR ROLLBACK INTO blocks (height, ts, tx_count, header, cert)"
			" VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_TX_INS] = "INSERT OR ROLLBACK INTO txs (seq, idp, type, sender, domain, request_seq, raw)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* by id: ?1 the id's prefix (bind_id), the row is the one whose
	 * bytes have the id (step_to_id); the ids of the last IDS_SWEEP txs
	 * may still wait in memory instead (find_tx) */
	[S_TX_BY_ID] = "SELECT t.domain, t.seq, t.raw FROM tx_ids i JOIN txs t ON t.seq = i.seq"
		       " WHERE i.idp = ?1",
	[S_OBJREF_INS] = "INSERT OR IGNORE INTO tx_objects (kind, name, seq) VALUES (?1, ?2, ?3)",
	[S_OPEN_INS] = "INSERT OR ROLLBACK INTO open_requests (seq) VALUES (?1)",
	[S_OPEN_DEL] = "DELETE FROM open_requests WHERE seq = ?1",
	[S_TENANT_PUT] = "INSERT OR REPLACE INTO tenants (domain, scheme, key, name, ops, max_vms,"
			 " max_vnfs, max_sfcs, max_chain, rate_per_min, revoked, height)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[S_OBJECT_PUT] = "INSERT OR REPLACE INTO objects (kind, name, domain, owner,"
			 " status, spec, pending_spec, last_request, spec_src, height)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[S_OBJECT_DEL] = "DELETE FROM objects WHERE kind = ?1 AND name = ?2",
	[S_BLOCK_GET] = "SELECT header, cert, tx_count, ts FROM blocks WHERE height = ?1",
	[S_BLOCK_TXS] = "SELECT seq, raw FROM txs WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
	[S_TX_AT] = "SELECT domain, seq, raw FROM txs WHERE seq = ?1",
	/* ?1 the request's seq */
	[S_RESP_FIND] = "SELECT raw FROM txs WHERE request_seq = ?1 ORDER BY seq LIMIT 1",
	[S_META_PUT] = "INSERT OR REPLACE INTO consensus_meta (key, value) VALUES (?1, ?2)",
	[S_META_GET] = "SELECT value FROM consensus_meta WHERE key = ?1",
	[S_META_DEL] = "DELETE FROM consensus_meta WHERE key = ?1",
	[S_META_LIST] = "SELECT key, value FROM consensus_meta WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
	[S_LOAD_TENANTS] = "SELECT domain, scheme, key, name, ops, max_vms, max_vnfs, max_sfcs,"
			   " max_chain, rate_per_min, revoked, height FROM tenants"
			   " ORDER BY domain, scheme, key",
	/* column 3 is the owner's scheme in schema 2 (v2_sql), NULL here, where
	 * column 4 holds the scheme byte too; column 8 is the last request's id
	 * there, its signed bytes here (the id and, with spec_src, the spec
	 * come from them) */
	[S_LOAD_OBJECTS] = "SELECT o.kind, o.name, o.domain, NULL, p.key, o.status, o.spec,"
			   " o.pending_spec, t.raw, o.height, o.spec_src FROM objects o"
			   " LEFT JOIN principals p ON p.id = o.owner"
			   " LEFT JOIN txs t ON t.seq = o.last_request ORDER BY o.kind, o.name",
	[S_LOAD_OPEN] = "SELECT t.raw, " SEQ_HEIGHT("t.seq") " FROM open_requests o JOIN txs t ON t.seq = o.seq"
			" ORDER BY o.seq",
	[S_LOAD_RECENT] = "SELECT t.raw, b.ts FROM txs t" Q_JOIN_BLOCK
			  " WHERE t.seq >= ?1 ORDER BY t.seq",
	[S_Q_ALL] = Q_SELECT "txs t" Q_JOIN_BLOCK " WHERE 1" Q_FILTER,
	[S_Q_SENDER] = Q_SELECT "txs t INDEXED BY txs_sender" Q_JOIN_BLOCK " WHERE t.sender = ?1" Q_FILTER,
	[S_Q_TYPE] = Q_SELECT "txs t" Q_JOIN_BLOCK " WHERE t.type = ?2 AND t.type >= 3" Q_FILTER,
	[S_Q_DOMAIN] = Q_SELECT "txs t INDEXED BY txs_domain" Q_JOIN_BLOCK " WHERE t.domain = ?3" Q_FILTER,
	/* the requests naming the object, and their responses */
	[S_Q_OBJECT] = Q_SELECT "txs t" Q_JOIN_BLOCK
		       " WHERE (t.seq IN (SELECT seq FROM tx_objects WHERE kind = ?4 AND name = ?5)"
		       " OR t.request_seq IN (SELECT seq FROM tx_objects WHERE kind = ?4 AND name = ?5))"
		       Q_FILTER,
	[S_ATTEST_PUT] = "INSERT OR REPLACE INTO attestations (domain, tx_id, attested_height, objects,"
			 " problems, digest, ts, height, block_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[S_BLOCK_TS] = "SELECT ts FROM blocks WHERE height = ?1",
	[S_LOAD_ATTESTS] = "SELECT domain, tx_id, attested_height, objects, problems, digest, ts, height,"
			   " block_ts FROM attestations ORDER BY domain",
	[S_PRINCIPAL_GET] = "SELECT id FROM principals WHERE key = ?1",
	[S_PRINCIPAL_INS] = "INSERT OR ROLLBACK INTO principals (key) VALUES (?1)",
	[S_IDS_INS] = "INSERT OR IGNORE INTO tx_ids (idp, seq) VALUES (?1, ?2)",
	[S_IDS_HAS] = "SELECT 1 FROM tx_ids WHERE idp = ?1 AND seq = ?2",
	/* the last ?2 txs after seq ?1, newest first */
	[S_IDS_AFTER] = "SELECT seq, idp FROM txs WHERE seq > ?1 ORDER BY seq DESC LIMIT ?2",
};

/* Statements that read an older file (opened read-only) differently;
 * NULL: the same text.  The statements only appends use and that name
 * newer columns are not prepared there (prepare_all).  Up to schema 5 the
 * txs.idp column had an index of its own instead of tx_ids.  Up to schema 3 a
 * tx row has its full id (bound as ?2 by bind_id) and a response its
 * request's id; up to schema 2 txs.sender is the key itself, bound as a
 * blob (store_query_txs). */
static const char *old_sql(int i, int schema)
{
	switch (i) {
	case S_LOAD_OBJECTS:
		return schema < 3 ? "SELECT kind, name, domain, owner_scheme, owner, status, spec,"
				    " pending_spec, last_request, height, 0 FROM objects ORDER BY kind, name"
				  : NULL;
	case S_TX_BY_ID:
		/* schemas 4 and 5 indexed the prefix column itself */
		return schema < 4 ? "SELECT domain, seq, raw FROM txs WHERE id = ?2"
				  : "SELECT domain, seq, raw FROM txs WHERE idp = ?1";
	case S_RESP_FIND:
		return schema < 4 ? "SELECT raw FROM txs WHERE request_id = ?2 ORDER BY seq LIMIT 1"
				  : NULL;
	case S_Q_OBJECT:
		if (schema >= 4)
			return NULL;
		return Q_SELECT "txs t" Q_JOIN_BLOCK
		       " WHERE (t.seq IN (SELECT seq FROM tx_objects WHERE kind = ?4 AND name = ?5)"
		       " OR t.request_id IN (SELECT r.id FROM tx_objects x JOIN txs r ON r.seq = x.seq"
		       " WHERE x.kind = ?4 AND x.name = ?5))" Q_FILTER;
	default:
		return NULL;
	}
}

/* The background checkpointer (see the top of the file). */
enum { CK_IDLE, CK_RUNNING, CK_DONE };
typedef struct {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sqlite3 *db;                 /* its own connection */
	int want, stop;
	int phase;                   /* CK_IDLE, CK_RUNNING, CK_DONE */
	unsigned pages;              /* threshold in log frames */
	uint64_t runs, failures, inline_runs;
} ckpt_t;

struct store_t {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	ckpt_t *ck;                  /* NULL: SQLite's own autocheckpoint */
	int batch;                   /* store_batch(s, 1): appends share transactions */
	int in_txn;                  /* a batch transaction is open */
	uint64_t dur_height, dur_ts; /* the tip when it opened (durable) */
	uint8_t dur_hash[BSEC_HASH_BYTES];
	const genesis_t *g;
	char *path;
	char *mark;               /* DIR/ledger.db-open, removed after a clean close */
	int mark_fd;              /* open on it, holding its lock while the store is open */
	int readonly;
	int schema;                  /* the file's schema_version (< 4: read-only) */
	map_t *principals;           /* scheme byte || key -> principals id */
	/* store_append: the requests the block's objects may name as their
	 * last one (the block's own, and those its responses answer), by id
	 * -> index + 1 in refs, so that put_object need not look them up again */
	map_t *blk_ids;
	struct req_ref *refs;
	size_t n_refs, cap_refs;
	uint64_t height;
	uint8_t tip_hash[BSEC_HASH_BYTES];
	uint64_t tip_ts;
	char **dels;                 /* meta keys to delete with the next write */
	size_t n_dels, cap_dels;
	/* the ids of recent txs not yet in tx_ids (ids_sweep) */
	struct ids_bucket *ids;      /* ids_n buckets; a read-only open's: ro_ids_load */
	int64_t ro_seq;              /* read-only: the newest tx whose id ids holds */
	unsigned ro_bits;            /* read-only: a window of 2^ro_bits txs (0: IDS_BITS) */
	unsigned ids_bits;           /* ids_n = 2^ids_bits */
	uint32_t ids_n;
	uint32_t ids_cursor;         /* the bucket the sweep writes out next */
	size_t ids_waiting;          /* ids in the buckets */
	int ids_stale;               /* rebuild them from the file before the next use */
	int ids_flush_all;           /* the next append writes every bucket out */
};

/* A deleted meta key need not be durable (store_meta_del), so deletes
 * wait for the next transaction that writes anyway instead of costing an
 * fsync each; past this many they get a transaction of their own. */
#define STORE_MAX_DELS 1024

static int batch_commit(store_t *s, char *err, size_t errlen);
static int block_raw(store_t *s, uint64_t height, uint8_t **block, size_t *block_len,
		     uint8_t **cert, size_t *cert_len, int *altered);
static int dels_flush(store_t *s);
static int dels_run(store_t *s, char *err, size_t errlen);
static void dels_clear(store_t *s);
static void refs_clear(store_t *s);

static int64_t seq_of(uint64_t height, uint32_t idx)
{
	return (int64_t)(height << SEQ_SHIFT | idx);
}

static void hex32(char out[2 * BSEC_HASH_BYTES + 1], const uint8_t *h)
{
	hex_encode(out, h, BSEC_HASH_BYTES);
}

/* Steps a statement that returns no row, then resets it. */
static int step_done(store_t *s, sqlite3_stmt *q, const char *what, char *err, size_t errlen)
{
	int ret = 0;
	if (sqlite3_step(q) != SQLITE_DONE) {
		err_set(err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
		ret = -1;
	}
	sqlite3_reset(q);
	return ret;
}

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int ret = 0;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		ret = -1;
	}
	sqlite3_free(msg);
	return ret;
}

static void bind_hash(sqlite3_stmt *q, int i, const uint8_t *h)
{
	sqlite3_bind_blob(q, i, h, BSEC_HASH_BYTES, SQLITE_STATIC);
}

/* The idp column of a tx id: its first 8 bytes, big-endian, as SQLite's
 * signed 64-bit integer. */
static int64_t idp_of(const uint8_t id[BSEC_HASH_BYTES])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | id[i];
	return (int64_t)v;
}

/* Binds a lookup by tx id: ?1 its prefix (schema 4) and, in a statement
 * for an older file that has ?2, the whole id. */
static void bind_id(sqlite3_stmt *q, const uint8_t id[BSEC_HASH_BYTES])
{
	sqlite3_bind_int64(q, 1, idp_of(id));
	if (sqlite3_bind_parameter_count(q) >= 2)
		bind_hash(q, 2, id);
}

/* Steps q (bound by bind_id) to the row whose tx bytes, column col, have
 * this id: SQLITE_ROW there, SQLITE_DONE when no row has, or an error. */
static int step_to_id(store_t *s, sqlite3_stmt *q, int col, const uint8_t id[BSEC_HASH_BYTES])
{
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		uint8_t got[BSEC_HASH_BYTES];
		if (tx_raw_id(sqlite3_column_blob(q, col), (size_t)sqlite3_column_bytes(q, col),
			      s->g->chain_id, got) == 0 &&
		    memcmp(got, id, BSEC_HASH_BYTES) == 0)
			break;
	}
	return rc;
}

/* ---- the ids waiting for tx_ids ---- */

void (*store_test_hook)(void *);
void *store_test_arg;

struct ids_ent {
	int64_t idp, seq;
};

struct ids_bucket {
	uint32_t n, cap;
	struct ids_ent *e;
};

static struct ids_bucket *ids_bucket_of(store_t *s, int64_t idp)
{
	return &s->ids[(uint64_t)idp >> (64 - s->ids_bits)];
}

static void ids_add(store_t *s, int64_t idp, int64_t seq)
{
	struct ids_bucket *b = ids_bucket_of(s, idp);
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 2;
		b->e = xrealloc(b->e, b->cap * sizeof(*b->e));
	}
	b->e[b->n++] = (struct ids_ent){ idp, seq };
	s->ids_waiting++;
}

static void ids_free(store_t *s)
{
	if (!s->ids)
		return;
	for (uint32_t i = 0; i < s->ids_n; i++)
		free(s->ids[i].e);
	free(s->ids);
	s->ids = NULL;
	s->ids_waiting = 0;
}

/* Rebuilds the waiting ids from the file: those of the last IDS_SWEEP txs
 * that tx_ids lacks, after an open or a rollback (which can take ids
 * written out with it, and leave ids of txs it took).  No id waits
 * longer than that, so these are all; the next append writes them out,
 * and with them the sweep's position, which is not stored, is moot. */
static int ids_recover(store_t *s)
{
	sqlite3_stmt *q = s->stmt[S_IDS_AFTER], *h = s->stmt[S_IDS_HAS];
	size_t n = 0;
	int rc;

	for (uint32_t i = 0; i < s->ids_n; i++)
		s->ids[i].n = 0;
	s->ids_waiting = 0;
	sqlite3_bind_int64(q, 1, -1);
	sqlite3_bind_int64(q, 2, IDS_SWEEP);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(q, 0), idp = sqlite3_column_int64(q, 1);
		sqlite3_bind_int64(h, 1, idp);
		sqlite3_bind_int64(h, 2, seq);
		int r = sqlite3_step(h);
		sqlite3_reset(h);
		if (r == SQLITE_DONE) {
			ids_add(s, idp, seq);
			n++;
		} else if (r != SQLITE_ROW) {
			rc = r;
			break;
		}
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return -1;
	s->ids_stale = 0;
	s->ids_flush_all = n > 0;   /* n == ids_waiting */
	return 0;
}

/* Writes out the buckets the sweep passes over for a block of ntx txs
 * (all of them after ids_recover), inside the append's transaction. */
static int ids_sweep(store_t *s, uint32_t ntx, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->stmt[S_IDS_INS];
	uint32_t steps = s->ids_flush_all || ntx >= s->ids_n ? s->ids_n : ntx;

	for (uint32_t i = 0; i < steps; i++) {
		struct ids_bucket *b = &s->ids[(s->ids_cursor + i) & (s->ids_n - 1)];
		for (uint32_t j = 0; j < b->n; j++) {
			sqlite3_bind_int64(q, 1, b->e[j].idp);
			sqlite3_bind_int64(q, 2, b->e[j].seq);
			if (step_done(s, q, "indexing tx ids", err, errlen) < 0)
				return -1;   /* the rollback makes the ids stale */
		}
		s->ids_waiting -= b->n;
		b->n = 0;
	}
	s->ids_cursor = (s->ids_cursor + steps) & (s->ids_n - 1);
	s->ids_flush_all = 0;
	return 0;
}

/* A read-only open of a ledger a writer may have open (or left after a
 * crash): the ids it may hold in memory are those of the last IDS_SWEEP
 * txs.  Their (idp, seq) are read into ids at the first miss, and those
 * of txs appended since at each later one.  A tx older than the window
 * read was in tx_ids when it was read (find_tx looks there again). */
static int ro_ids_load(store_t *s)
{
	sqlite3_stmt *q = s->stmt[S_IDS_AFTER];
	int rc;

	if (!s->ids || s->ids_waiting > 4 * (size_t)s->ids_n) {
		ids_free(s);   /* a long-lived reader: start over */
		s->ids_bits = s->ro_bits ? s->ro_bits : IDS_BITS;
		s->ids_n = 1u << s->ids_bits;
		s->ids = xcalloc(s->ids_n, sizeof(*s->ids));
		s->ro_seq = -1;
	}
	int64_t top = s->ro_seq;
	sqlite3_bind_int64(q, 1, s->ro_seq);
	sqlite3_bind_int64(q, 2, s->ids_n);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(q, 0);
		ids_add(s, sqlite3_column_int64(q, 1), seq);
		if (seq > top)
			top = seq;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return -1;
	s->ro_seq = top;
	return 0;
}

/* The waiting id with this prefix whose row has this id: as find_tx. */
/* Steps q (domain, seq, raw; bound) to the row with this id: SQLITE_ROW
 * with *out = q, or q reset and SQLITE_DONE or an error. */
static int step_found(store_t *s, sqlite3_stmt *q, const uint8_t id[BSEC_HASH_BYTES], sqlite3_stmt **out)
{
	int rc = step_to_id(s, q, 2, id);
	if (rc == SQLITE_ROW)
		*out = q;
	else
		sqlite3_reset(q);
	return rc;
}

static int ids_probe(store_t *s, const uint8_t id[BSEC_HASH_BYTES], int64_t idp, sqlite3_stmt **out)
{
	struct ids_bucket *b = ids_bucket_of(s, idp);
	sqlite3_stmt *q = s->stmt[S_TX_AT];
	for (uint32_t j = 0; j < b->n; j++) {
		if (b->e[j].idp != idp)
			continue;
		sqlite3_bind_int64(q, 1, b->e[j].seq);
		int rc = step_found(s, q, id, out);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_DONE;
}

/* The lookup in tx_ids (in the txs.idp index up to schema 5). */
static int tx_ids_find(store_t *s, const uint8_t id[BSEC_HASH_BYTES], sqlite3_stmt **out)
{
	sqlite3_stmt *q = s->stmt[S_TX_BY_ID];
	bind_id(q, id);
	return step_found(s, q, id, out);
}

/* Finds the tx with this id: SQLITE_ROW and *out, the statement on its
 * row (domain, seq, raw), which the caller resets; SQLITE_DONE when the
 * ledger has no such tx; or an error code. */
static int find_tx(store_t *s, const uint8_t id[BSEC_HASH_BYTES], sqlite3_stmt **out)
{
	int64_t idp = idp_of(id);
	int rc;

	*out = NULL;
	if (s->ids) {
		if (s->ids_stale && ids_recover(s) < 0)
			return SQLITE_ERROR;
		if ((rc = ids_probe(s, id, idp, out)) != SQLITE_DONE)
			return rc;
	}
	rc = tx_ids_find(s, id, out);
	if (rc != SQLITE_DONE || !s->readonly || s->schema < STORE_SCHEMA_VERSION)
		return rc;
	/* A read-only open: a writer may hold the id in memory still.  Each
	 * statement reads its own snapshot, and blocks appended between the
	 * lookup above and the load can both write the id out and push its
	 * tx out of the window loaded; it is then in tx_ids as of the load,
	 * so look there once more. */
	if (store_test_hook)
		store_test_hook(store_test_arg);
	if (ro_ids_load(s) < 0)
		return SQLITE_ERROR;
	if ((rc = ids_probe(s, id, idp, out)) != SQLITE_DONE)
		return rc;
	return tx_ids_find(s, id, out);
}

/* bsec_idp(id): idp_of for SQL, which the 3 -> 4 migration uses. */
static void sql_idp(sqlite3_context *c, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB || sqlite3_value_bytes(argv[0]) != BSEC_HASH_BYTES) {
		sqlite3_result_error(c, "bsec_idp: not a 32-byte tx id", -1);
		return;
	}
	sqlite3_result_int64(c, idp_of(sqlite3_value_blob(argv[0])));
}

/* A column that must hold exactly n bytes; NULL otherwise. */
static const uint8_t *col_fixed(sqlite3_stmt *q, int i, size_t n)
{
	const uint8_t *p = sqlite3_column_blob(q, i);
	if (!p || (size_t)sqlite3_column_bytes(q, i) != n)
		return NULL;
	return p;
}

/* ---- open / close ---- */

/* Reads meta[key] (dbmeta_get): 0 and a copy, 1 absent, -1 error. */
static int meta_read(sqlite3 *db, const char *key, uint8_t **val, size_t *len)
{
	int r = dbmeta_get(db, key, val, len);
	return r == 1 ? 0 : r == 0 ? 1 : -1;
}

static int meta_write(sqlite3 *db, const char *key, const void *val, size_t len)
{
	return dbmeta_put(db, key, val, len);
}

/* Schema 1 -> 2, inside check_meta's transaction: open_requests keyed by
 * the request's txs row instead of its id.  Every statement of this build
 * also reads a schema-1 file, so a read-only open needs no migration. */
static int migrate_v1(store_t *s, char *err, size_t errlen)
{
	static const char sql[] =
		"CREATE TABLE open_requests_v2 (seq INTEGER PRIMARY KEY);"
		"INSERT INTO open_requests_v2 (seq) SELECT seq FROM open_requests ORDER BY seq;"
		"DROP TABLE open_requests;"
		"ALTER TABLE open_requests_v2 RENAME TO open_requests;";
	if (exec_sql(s->db, sql, err, errlen) < 0)
		return -1;
	log_info("store", "%s: migrated from schema_version 1 to 2 (open requests keyed by their txs row)",
		 s->path);
	return 0;
}

/* Schema 2 -> 3, inside check_meta's transaction (a failure rolls all of
 * it back), after SCHEMA_SQL made the (empty) principals table: senders
 * and owners become principals ids, an object's last request its txs
 * seq, blocks lose their hash and prev_hash columns, and the unused index
 * by block hash goes (already dropped by SCHEMA_SQL).  The owner's key is
 * rebuilt as the sender column's encoding (scheme byte || key) to find its
 * id.  Stored headers and specs stay as they are (signed headers and full
 * specs are read as well as the short forms). */
#define V2_OWNER_KEY "CAST(CAST(char(o.owner_scheme) AS BLOB) || o.owner AS BLOB)"

static int64_t count_rows(sqlite3 *db, const char *table)
{
	sqlite3_stmt *q = NULL;
	int64_t n = -1;
	char *sql = xasprintf("SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	free(sql);
	return n;
}

/* Runs one migration step's SQL, then SCHEMA_SQL (the indexes of the
 * tables it rebuilt), and counts rows before (before[i]) and after
 * (after[i]): 0 when each pair is equal, 1 when one is not (the caller
 * says what would be lost), -1 on an SQL error.  n[] gets the counts. */
static int migrate_run(store_t *s, const char *sql, const char *const before[2],
		       const char *const after[2], int64_t n[2], char *err, size_t errlen)
{
	for (int i = 0; i < 2; i++) {
		if ((n[i] = count_rows(s->db, before[i])) < 0) {
			err_set(err, errlen, "%s: counting rows before migrating: %s", s->path,
				sqlite3_errmsg(s->db));
			return -1;
		}
	}
	if (exec_sql(s->db, sql, err, errlen) < 0 || exec_sql(s->db, SCHEMA_SQL, err, errlen) < 0)
		return -1;
	for (int i = 0; i < 2; i++)
		if (count_rows(s->db, after[i]) != n[i])
			return 1;
	return 0;
}

static int migrate_v2(store_t *s, char *err, size_t errlen)
{
	static const char sql[] =
		"INSERT INTO principals (key) SELECT sender FROM txs"
		" UNION SELECT " V2_OWNER_KEY " FROM objects o;"
		"CREATE TABLE txs_v3 " TXS_DEF_V3 ";"
		"INSERT INTO txs_v3 (seq, height, idx, id, type, sender, domain, ts, request_id, raw)"
		" SELECT t.seq, t.height, t.idx, t.id, t.type, p.id, t.domain, t.ts, t.request_id, t.raw"
		" FROM txs t JOIN principals p ON p.key = t.sender ORDER BY t.seq;"
		"DROP TABLE txs;"
		"ALTER TABLE txs_v3 RENAME TO txs;"
		"CREATE TABLE objects_v3 " OBJECTS_DEF ";"
		"INSERT INTO objects_v3 (kind, name, domain, owner, status, spec, pending_spec,"
		" last_request, spec_src, height)"
		" SELECT o.kind, o.name, o.domain, p.id, o.status, o.spec, o.pending_spec,"
		" t.seq, 0, o.height"
		" FROM objects o JOIN principals p ON p.key = " V2_OWNER_KEY
		" JOIN txs t ON t.id = o.last_request ORDER BY o.kind, o.name;"
		"DROP TABLE objects;"
		"ALTER TABLE objects_v3 RENAME TO objects;"
		"ALTER TABLE blocks DROP COLUMN prev_hash;"
		"ALTER TABLE blocks DROP COLUMN hash;";
	static const char *const tables[2] = { "txs", "objects" };
	int64_t n[2];
	int r = migrate_run(s, sql, tables, tables, n, err, errlen);
	if (r < 0)
		return -1;
	/* every row found its principal (a join that dropped one would lose it) */
	if (r > 0) {
		err_set(err, errlen, "%s: migrating to schema_version 3 would lose rows (a sender or owner "
			"key that does not decode?); the file is left as it was", s->path);
		return -1;
	}
	log_info("store", "%s: migrated from schema_version 2 to 3 (senders and owners as principals ids, "
		 "%" PRId64 " txs, %" PRId64 " objects); the old tables' pages stay in the file as free "
		 "space that new blocks reuse (VACUUM with the node stopped returns them)", s->path, n[0],
		 n[1]);
	return 0;
}

/* Schema 3 -> 4, inside check_meta's transaction, after the earlier
 * steps: txs rows keep the id's 8-byte prefix instead of the id, lose the
 * height, idx and ts columns (the seq and the tx's bytes hold them), and
 * name a response's request by its row; blocks lose the view and proposer
 * columns, which no statement read (the header holds them), and SCHEMA_SQL
 * dropped the index by timestamp.  Every response must find its
 * request (validation made sure of it when the block was appended). */
static int migrate_v3(store_t *s, char *err, size_t errlen)
{
	static const char sql[] =
		"CREATE TABLE txs_v4 " TXS_DEF ";"
		"INSERT INTO txs_v4 (seq, idp, type, sender, domain, request_seq, raw)"
		" SELECT t.seq, bsec_idp(t.id), t.type, t.sender, t.domain,"
		" (SELECT r.seq FROM txs r WHERE r.id = t.request_id), t.raw FROM txs t ORDER BY t.seq;"
		"DROP TABLE txs;"
		"ALTER TABLE txs_v4 RENAME TO txs;"
		"ALTER TABLE blocks DROP COLUMN view;"
		"ALTER TABLE blocks DROP COLUMN proposer;";
	static const char *const before[2] = { "txs", "txs WHERE request_id IS NOT NULL" };
	static const char *const after[2] = { "txs", "txs WHERE request_seq IS NOT NULL" };
	int64_t n[2];
	int r = migrate_run(s, sql, before, after, n, err, errlen);
	if (r < 0)
		return -1;
	if (r > 0) {
		err_set(err, errlen, "%s: migrating to schema_version 4 would lose rows or a response's "
			"request; the file is left as it was", s->path);
		return -1;
	}
	log_info("store", "%s: migrated from schema_version 3 to 4 (txs indexed by an 8-byte id prefix, "
		 "%" PRId64 " txs); the old table's pages stay in the file as free space that new "
		 "blocks reuse (VACUUM with the node stopped returns them)", s->path, n[0]);
	return 0;
}

/* Schema 4 or 5 -> 6, inside check_meta's transaction: the index by id
 * prefix becomes the table tx_ids, filled here in key order (the old
 * index, dropped by TXS_INDEX_SQL, gives that order). */
static int migrate_v5(store_t *s, char *err, size_t errlen)
{
	static const char sql[] =
		"INSERT OR IGNORE INTO tx_ids (idp, seq) SELECT idp, seq FROM txs ORDER BY idp, seq;";
	static const char *const before[2] = { "txs", "txs" };
	static const char *const after[2] = { "tx_ids", "txs" };
	int64_t n[2];
	int r = migrate_run(s, sql, before, after, n, err, errlen);
	if (r < 0)
		return -1;
	if (r > 0) {
		err_set(err, errlen, "%s: migrating to schema_version 6 left tx ids out of tx_ids; "
			"the file is left as it was", s->path);
		return -1;
	}
	log_info("store", "%s: migrated to schema_version 6 (the tx id index as a table written in "
		 "sorted batches, %" PRId64 " txs)", s->path, n[0]);
	return 0;
}

/* Creates the schema when new, then checks schema_version and chain_id. */
static int check_meta(store_t *s, char *err, size_t errlen)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int ret = -1, r;
	int began = 0;
	char want[2 * BSEC_HASH_BYTES + 1], have[2 * BSEC_HASH_BYTES + 1];

	if (!s->readonly) {
		if (sqlite3_create_function_v2(s->db, "bsec_idp", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
					       NULL, sql_idp, NULL, NULL, NULL) != SQLITE_OK ||
		    exec_sql(s->db, "BEGIN IMMEDIATE", err, errlen) < 0)
			goto out;
		began = 1;
		if (exec_sql(s->db, SCHEMA_SQL, err, errlen) < 0)
			goto out;
	}
	r = meta_read(s->db, "schema_version", &val, &len);
	if (r < 0) {
		err_set(err, errlen, "%s is not a BSec ledger: %s", s->path, sqlite3_errmsg(s->db));
		goto out;
	}
	if (r == 1) {
		char v[16];
		if (s->readonly) {
			err_set(err, errlen, "%s is not a BSec ledger (no schema_version)", s->path);
			goto out;
		}
		snprintf(v, sizeof(v), "%d", STORE_SCHEMA_VERSION);
		if (meta_write(s->db, "schema_version", v, strlen(v)) < 0 ||
		    meta_write(s->db, "chain_id", s->g->chain_id, BSEC_HASH_BYTES) < 0) {
			err_set(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
			goto out;
		}
		s->schema = STORE_SCHEMA_VERSION;
	} else if (len < 8 && (s->schema = atoi((const char *)val)) >= 1 &&
		   s->schema < STORE_SCHEMA_VERSION) {
		char v[16];
		snprintf(v, sizeof(v), "%d", STORE_SCHEMA_VERSION);
		if (!s->readonly) {
			/* 4 -> 5 changes no row: the blocks schema 4 wrote keep
			 * their at-rest forms, which every read still takes */
			if ((s->schema == 1 && migrate_v1(s, err, errlen) < 0) ||
			    (s->schema <= 2 && migrate_v2(s, err, errlen) < 0) ||
			    (s->schema <= 3 && migrate_v3(s, err, errlen) < 0) ||
			    migrate_v5(s, err, errlen) < 0)
				goto out;
			if (meta_write(s->db, "schema_version", v, strlen(v)) < 0) {
				err_set(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
				goto out;
			}
			s->schema = STORE_SCHEMA_VERSION;
		}
	} else if (s->schema != STORE_SCHEMA_VERSION) {
		err_set(err, errlen, "%s has schema_version `%.*s', this build reads 1 to %d", s->path,
			(int)len, (const char *)val, STORE_SCHEMA_VERSION);
		goto out;
	}
	free(val);
	val = NULL;
	hex32(want, s->g->chain_id);
	r = meta_read(s->db, "chain_id", &val, &len);
	if (r != 0 || len != BSEC_HASH_BYTES) {
		err_set(err, errlen, "%s has no valid chain_id", s->path);
		goto out;
	}
	if (memcmp(val, s->g->chain_id, BSEC_HASH_BYTES) != 0) {
		hex32(have, val);
		err_set(err, errlen, "%s belongs to chain %s, not to this genesis's chain %s", s->path,
			have, want);
		goto out;
	}
	if (began) {
		if (exec_sql(s->db, TXS_INDEX_SQL, err, errlen) < 0)
			goto out;
		began = 0;
		if (exec_sql(s->db, "COMMIT", err, errlen) < 0)
			goto out;
	}
	ret = 0;
out:
	if (began)
		(void)exec_sql(s->db, "ROLLBACK", NULL, 0);
	free(val);
	return ret;
}

static int set_pragmas(store_t *s, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int ret = -1;
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	if (exec_sql(s->db, "PRAGMA page_size = 16384; PRAGMA cache_size = -32768;"
			     " PRAGMA temp_store = MEMORY;", err, errlen) < 0)
		goto out;
	if (s->readonly) {
		ret = 0;
		goto out;
	}
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(q, 0), "wal") != 0) {
		err_set(err, errlen, "%s: cannot enable WAL: %s", s->path, sqlite3_errmsg(s->db));
		goto out;
	}
	if (exec_sql(s->db, "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 4096;"
			     " PRAGMA journal_size_limit = 134217728;", err, errlen) < 0)
		goto out;
	ret = 0;
out:
	sqlite3_finalize(q);
	return ret;
}

static int prepare_all(store_t *s, char *err, size_t errlen)
{
	for (int i = 0; i < S_COUNT; i++) {
		const char *sql = STMT_SQL[i];
		if (s->schema < STORE_SCHEMA_VERSION) {
			/* statements that write, or that only a schema-6 file
			 * needs: never run on a read-only open of an older one */
			if (i == S_TX_INS || i == S_BLOCK_INS || i == S_TX_AT || i == S_IDS_INS ||
			    i == S_IDS_HAS || i == S_IDS_AFTER ||
			    (s->schema < 3 && (i == S_PRINCIPAL_GET || i == S_PRINCIPAL_INS ||
					       i == S_OBJECT_PUT)))
				continue;
			if (old_sql(i, s->schema))
				sql = old_sql(i, s->schema);
		}
		if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) !=
		    SQLITE_OK) {
			err_set(err, errlen, "%s: preparing `%s': %s", s->path, sql, sqlite3_errmsg(s->db));
			return -1;
		}
	}
	return 0;
}

/* Checks the tip: it decodes, is of this chain, its roots and certificate
 * verify, and it links to the block before (or the genesis). */
static int check_tip(store_t *s, char *err, size_t errlen)
{
	uint8_t *raw = NULL, *craw = NULL;
	size_t len = 0, clen = 0;
	block_t b;
	cert_t c;
	block_header_t prev;
	char why[256];
	int ret = -1, have_b = 0, have_c = 0, altered = 0;
	uint64_t h = s->height;

	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	if (block_raw(s, h, &raw, &len, &craw, &clen, &altered) < 0) {
		err_set(err, errlen, "%s: cannot read the tip block %" PRIu64, s->path, h);
		goto out;
	}
	if (block_decode(&b, raw, len, why, sizeof(why)) < 0) {
		err_set(err, errlen, "%s: tip block %" PRIu64 " does not decode: %s", s->path, h, why);
		goto out;
	}
	have_b = 1;
	if (b.hdr.height != h) {
		err_set(err, errlen, "%s: the block stored at height %" PRIu64 " says height %" PRIu64,
			s->path, h, b.hdr.height);
		goto out;
	}
	if (memcmp(b.hdr.chain_id, s->g->chain_id, BSEC_HASH_BYTES) != 0) {
		err_set(err, errlen, "%s: tip block %" PRIu64 " is of another chain", s->path, h);
		goto out;
	}
	if ((altered & ROOTS_TX_ALTERED) || block_check_root(&b) < 0) {
		err_set(err, errlen, "%s: tip block %" PRIu64 ": tx_root does not match its txs",
			s->path, h);
		goto out;
	}
	if ((altered & ROOTS_SIG_ALTERED) || block_check_sig_root(&b) < 0) {
		err_set(err, errlen, "%s: tip block %" PRIu64 ": sig_root does not match its txs' signatures",
			s->path, h);
		goto out;
	}
	if (cert_decode(&c, craw, clen, why, sizeof(why)) < 0) {
		err_set(err, errlen, "%s: certificate of tip block %" PRIu64 " does not decode: %s",
			s->path, h, why);
		goto out;
	}
	have_c = 1;
	if (cert_verify(&c, s->g, h, b.hdr.hash, why, sizeof(why)) < 0) {
		err_set(err, errlen, "%s: certificate of tip block %" PRIu64 ": %s", s->path, h, why);
		goto out;
	}
	if (h == 1) {
		if (memcmp(b.hdr.prev_hash, s->g->chain_id, BSEC_HASH_BYTES) != 0) {
			err_set(err, errlen, "%s: block 1's prev_hash is not the chain_id", s->path);
			goto out;
		}
	} else {
		/* the block below, whole: a short header takes its roots from its txs */
		uint8_t *praw = NULL, *pcert = NULL;
		size_t plen = 0, pclen = 0;
		rd_t r;
		int rc;
		if (store_get_block_raw(s, h - 1, &praw, &plen, &pcert, &pclen) < 0) {
			err_set(err, errlen, "%s: block %" PRIu64 " below the tip is missing or unreadable",
				s->path, h - 1);
			goto out;
		}
		rd_init(&r, praw, plen);
		rc = block_header_read(&r, &prev);
		free(praw);
		free(pcert);
		if (rc < 0) {
			err_set(err, errlen, "%s: block %" PRIu64 ": header does not decode: %s", s->path,
				h - 1, r.err ? r.err : "bad header");
			goto out;
		}
		if (memcmp(prev.hash, b.hdr.prev_hash, BSEC_HASH_BYTES) != 0) {
			err_set(err, errlen,
				"%s: block %" PRIu64 ": prev_hash does not match block %" PRIu64
				"'s hash",
				s->path, h, h - 1);
			goto out;
		}
	}
	s->tip_ts = b.hdr.timestamp_ms;
	memcpy(s->tip_hash, b.hdr.hash, BSEC_HASH_BYTES);
	ret = 0;
out:
	if (have_b)
		block_clear(&b);
	if (have_c)
		cert_clear(&c);
	free(raw);
	free(craw);
	return ret;
}

static int load_tip(store_t *s, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->stmt[S_TIP];
	int rc = sqlite3_step(q);

	if (rc == SQLITE_DONE) {
		s->height = 0;
		s->tip_ts = 0;
		memcpy(s->tip_hash, s->g->chain_id, BSEC_HASH_BYTES);
		sqlite3_reset(q);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		err_set(err, errlen, "%s: reading the tip: %s", s->path, sqlite3_errmsg(s->db));
		sqlite3_reset(q);
		return -1;
	}
	s->height = (uint64_t)sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (s->height == 0 || s->height >= SEQ_MAX_HEIGHT) {
		err_set(err, errlen, "%s: corrupt tip row at height %" PRIu64, s->path, s->height);
		return -1;
	}
	return check_tip(s, err, errlen);
}

static void *ckpt_main(void *arg)
{
	ckpt_t *ck = arg;
	pthread_mutex_lock(&ck->mu);
	for (;;) {
		while (!ck->want && !ck->stop)
			pthread_cond_wait(&ck->cv, &ck->mu);
		if (ck->stop)
			break;
		ck->want = 0;
		pthread_mutex_unlock(&ck->mu);
		/* PASSIVE: copies what no reader still needs, never waits for
		 * the writer; the writer restarts the log once all is copied */
		int rc = sqlite3_wal_checkpoint_v2(ck->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ck->mu);
		ck->runs++;
		if (rc != SQLITE_OK)
			ck->failures++;
		ck->phase = CK_DONE;
	}
	pthread_mutex_unlock(&ck->mu);
	return NULL;
}

/* Called by SQLite after each commit on the writer's connection with the
 * log's length in frames. */
static int ckpt_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
	ckpt_t *ck = ctx;
	if (frames < 0 || (unsigned)frames < ck->pages)
		return SQLITE_OK;
	if ((unsigned)frames >= ck->pages * CKPT_HARD_FACTOR) {
		/* the thread cannot keep up (or a reader pins the log): do it
		 * here, as SQLite's autocheckpoint would; BUSY if the thread is
		 * at it right now, which is fine */
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ck->mu);
		ck->inline_runs++;
		pthread_mutex_unlock(&ck->mu);
		return SQLITE_OK;
	}
	pthread_mutex_lock(&ck->mu);
	int phase = ck->phase;
	if (phase == CK_IDLE) {
		ck->phase = CK_RUNNING;
		ck->want = 1;
		pthread_cond_signal(&ck->cv);
	} else if (phase == CK_DONE) {
		ck->phase = CK_IDLE;
	}
	pthread_mutex_unlock(&ck->mu);
	if (phase == CK_DONE) {
		/* The thread copied the log as it was when it began; the
		 * commits since then left a few frames behind, and SQLite
		 * restarts the log from its start only once every frame is
		 * copied.  Copy those few here, between two transactions, so
		 * the next one restarts it instead of letting it grow. */
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ck->mu);
		ck->inline_runs++;
		pthread_mutex_unlock(&ck->mu);
	}
	return SQLITE_OK;
}

static void ckpt_stop(store_t *s)
{
	ckpt_t *ck = s->ck;
	if (!ck)
		return;
	sqlite3_wal_hook(s->db, NULL, NULL);
	pthread_mutex_lock(&ck->mu);
	ck->stop = 1;
	pthread_cond_signal(&ck->cv);
	pthread_mutex_unlock(&ck->mu);
	pthread_join(ck->th, NULL);
	sqlite3_close(ck->db);
	pthread_cond_destroy(&ck->cv);
	pthread_mutex_destroy(&ck->mu);
	free(ck);
	s->ck = NULL;
	/* back to SQLite's own checkpoints for whatever comes next */
	(void)exec_sql(s->db, "PRAGMA wal_autocheckpoint = 4096", NULL, 0);
}

/* Starts the checkpointer; on any failure the store keeps SQLite's
 * autocheckpoint (slower appends, same data). */
static void ckpt_start(store_t *s)
{
	ckpt_t *ck = xcalloc(1, sizeof(*ck));
	ck->pages = CKPT_PAGES;
	if (sqlite3_open_v2(s->path, &ck->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(ck->db);
		free(ck);
		return;
	}
	sqlite3_busy_timeout(ck->db, STORE_BUSY_MS);
	{
		int one = 1;   /* as the writer's: never the one to delete the log */
		(void)sqlite3_file_control(ck->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	}
	pthread_mutex_init(&ck->mu, NULL);
	pthread_cond_init(&ck->cv, NULL);
	if (pthread_create(&ck->th, NULL, ckpt_main, ck) != 0) {
		sqlite3_close(ck->db);
		pthread_cond_destroy(&ck->cv);
		pthread_mutex_destroy(&ck->mu);
		free(ck);
		return;
	}
	s->ck = ck;
	sqlite3_wal_hook(s->db, ckpt_hook, ck); /* replaces the autocheckpoint */
}

void store_set_id_sweep(store_t *s, unsigned bits)
{
	if (!s || bits < 1 || bits > IDS_BITS)
		return;
	if (s->readonly) {
		/* the window a reader loads: the writer's sweep, if smaller */
		ids_free(s);
		s->ro_bits = bits;
		return;
	}
	if (!s->ids || bits == s->ids_bits)
		return;
	ids_free(s);
	s->ids_bits = bits;
	s->ids_n = 1u << bits;
	s->ids = xcalloc(s->ids_n, sizeof(*s->ids));
	s->ids_cursor = 0;
	s->ids_stale = 1;   /* the waiting ids go to the new buckets */
}

void store_set_checkpoint_pages(store_t *s, unsigned pages)
{
	if (!s || !pages)
		return;
	if (s->ck) {
		pthread_mutex_lock(&s->ck->mu);
		s->ck->pages = pages;
		pthread_mutex_unlock(&s->ck->mu);
	} else if (!s->readonly) {
		char sqlq[64];
		snprintf(sqlq, sizeof(sqlq), "PRAGMA wal_autocheckpoint = %u", pages);
		(void)exec_sql(s->db, sqlq, NULL, 0);
	}
}

void store_checkpoint_stats(store_t *s, uint64_t *background, uint64_t *failed, uint64_t *inline_runs)
{
	uint64_t a = 0, b = 0, c = 0;
	if (s && s->ck) {
		pthread_mutex_lock(&s->ck->mu);
		a = s->ck->runs;
		b = s->ck->failures;
		c = s->ck->inline_runs;
		pthread_mutex_unlock(&s->ck->mu);
	}
	if (background)
		*background = a;
	if (failed)
		*failed = b;
	if (inline_runs)
		*inline_runs = c;
}

/* SQLite's allocation statistics take a global mutex around every
 * malloc; nothing here reads them.  Only possible before SQLite's first
 * use in the process (it is refused, harmlessly, after). */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* Makes a file's creation or removal in path's directory durable. */
static void fsync_dir(const char *path)
{
	char *d = xstrdup(path), *slash = strrchr(d, '/');
	int fd;

	if (slash)
		*slash = '\0';
	fd = open(slash ? (*d ? d : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(d);
}

/* DIR/ledger.db-open exists while a writer has the file: made at open,
 * removed after a clean close.  The node's connections keep their log
 * (SQLITE_FCNTL_PERSIST_WAL: emptied, not deleted, at close), so that file
 * with no log beside it means a log holding committed blocks and this
 * replica's votes was lost (deleted after a crash): starting on what is
 * left would serve a shorter chain and could vote against a vote already
 * sent.  Another tool's read-write close after a crash also removes the
 * log, having folded it in: the message says so.  A file of its own, not a
 * row, so that a backup of ledger.db (which has no log) restores as
 * documented. */
static int open_mark(store_t *s, int had_wal, char *err, size_t errlen)
{
	char *mark = xasprintf("%s-open", s->path);
	int fd, ret = -1;

	if (access(mark, F_OK) == 0 && !had_wal) {
		err_set(err, errlen, "`%s' was not closed cleanly and its write-ahead log `%s-wal' is missing: the "
			"blocks and votes written since its last checkpoint are lost.  Put the log back beside it; "
			"if a tool (sqlite3 without -readonly) opened the file for writing since, it folded the "
			"log in and removing `%s-open' is safe; otherwise see docs/operations.md, \"A lost "
			"write-ahead log\"", s->path, s->path, s->path);
		goto out;
	}
	fd = open(mark, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		/* two writers on one ledger (two nodes given one data directory)
		 * would each vote from their own view of it */
		err_set(err, errlen, "`%s' is open for writing in another process (a second node on this data "
			"directory?)", s->path);
		close(fd);
		goto out;
	}
	if (fd < 0 || fsync(fd) < 0) {
		err_set(err, errlen, "cannot create `%s': %s", mark, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fsync_dir(s->path);
	s->mark = mark;
	s->mark_fd = fd;
	mark = NULL;
	ret = 0;
out:
	free(mark);
	return ret;
}

int store_open(store_t **out, const char *dir, const genesis_t *g, int readonly, char *err,
	       size_t errlen)
{
	store_t *s = xcalloc(1, sizeof(*s));
	int ret = -1, flags, had_wal = 0;

	*out = NULL;
	pthread_once(&sqlite_once, sqlite_setup);
	s->g = g;
	s->readonly = readonly;
	s->principals = map_new();
	s->blk_ids = map_new();
	memcpy(s->tip_hash, g->chain_id, BSEC_HASH_BYTES);
	s->path = xasprintf("%s/%s", dir, STORE_DB_NAME);
	if (!readonly && mkdir_p(dir, 0700) < 0) {
		err_set(err, errlen, "cannot create data directory `%s': %s", dir, strerror(errno));
		goto out;
	}
	if (!readonly) {
		char *wal = xasprintf("%s-wal", s->path);
		char *mark = xasprintf("%s-open", s->path);
		had_wal = access(wal, F_OK) == 0;
		/* before SQLite opens it: a refused open must not leave a log
		 * (PERSIST_WAL keeps the one its reads make) that lets the next
		 * open through */
		int lost = !had_wal && access(mark, F_OK) == 0;
		free(wal);
		free(mark);
		if (lost && open_mark(s, 0, err, errlen) < 0)
			goto out;
	}
	flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	if (sqlite3_open_v2(s->path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		err_set(err, errlen, "cannot open `%s': %s", s->path,
			s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if (!readonly) {
		/* the node's own close leaves the log (emptied) in place, so only
		 * a deletion, or another tool's read-write close, removes it:
		 * open_mark tells those from a crash */
		int one = 1;
		(void)sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	}
	if (!readonly && sqlite3_db_readonly(s->db, "main") == 1) {
		err_set(err, errlen, "cannot open `%s' for writing (read-only file or file system)", s->path);
		goto out;
	}
	if (set_pragmas(s, err, errlen) < 0 || check_meta(s, err, errlen) < 0 ||
	    prepare_all(s, err, errlen) < 0 || load_tip(s, err, errlen) < 0 ||
	    (!readonly && open_mark(s, had_wal, err, errlen) < 0))
		goto out;
	if (!readonly) {
		s->ids_bits = IDS_BITS;
		s->ids_n = IDS_SWEEP;
		s->ids = xcalloc(s->ids_n, sizeof(*s->ids));
		s->ids_stale = 1;   /* ids_recover before the first use */
		ckpt_start(s);
	}
	*out = s;
	s = NULL;
	ret = 0;
out:
	store_close(s);
	return ret;
}

/* On a clean close, the ids still waiting go to tx_ids, so that the next
 * open, or a read-only one, finds every id there.  Best effort: after a
 * crash, the next open rebuilds them anyway (ids_recover). */
static void ids_flush(store_t *s)
{
	if (!s->ids || !s->height || (s->ids_stale && ids_recover(s) < 0) || !s->ids_waiting)
		return;
	s->ids_flush_all = 1;
	if (step_done(s, s->stmt[S_BEGIN], "BEGIN", NULL, 0) < 0)
		return;
	if (ids_sweep(s, 0, NULL, 0) < 0 || step_done(s, s->stmt[S_COMMIT], "COMMIT", NULL, 0) < 0) {
		if (sqlite3_get_autocommit(s->db) == 0)
			(void)step_done(s, s->stmt[S_ROLLBACK], "ROLLBACK", NULL, 0);
		s->ids_stale = 1;
	}
}

void store_close(store_t *s)
{
	if (!s)
		return;
	(void)batch_commit(s, NULL, 0);
	if (!s->readonly) {
		(void)dels_flush(s);
		ids_flush(s);
	}
	dels_clear(s);
	free(s->dels);
	ckpt_stop(s); /* first: the writer's connection must close last */
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	if (s->db && sqlite3_close(s->db) == SQLITE_OK && s->mark) {
		/* closed: SQLite has checkpointed the log (and removed it unless
		 * a reader still had the file open) */
		unlink(s->mark);
		fsync_dir(s->path);
	}
	if (s->mark)
		close(s->mark_fd);   /* and its lock */
	free(s->mark);
	map_free(s->principals);
	refs_clear(s);
	free(s->refs);
	map_free(s->blk_ids);
	ids_free(s);
	free(s->path);
	free(s);
}

uint64_t store_height(const store_t *s)
{
	return s->height;
}

const uint8_t *store_tip_hash(const store_t *s)
{
	return s->tip_hash;
}

uint64_t store_tip_ts(const store_t *s)
{
	return s->tip_ts;
}

const char *store_path(const store_t *s)
{
	return s->path;
}

/* ---- append ---- */

typedef struct {
	store_t *s;
	char *err;
	size_t errlen;
} append_ctx_t;

/* A request an object of the block being appended may name: its txs row,
 * and its instruction (pointing into the block's tx) or, for a request an
 * earlier block holds, its signed bytes to decode when needed. */
struct req_ref {
	int64_t seq;
	const char *instr;
	size_t instr_len;
	uint8_t *raw;                /* owned; NULL for the block's own */
	size_t raw_len;
};

static void refs_clear(store_t *s)
{
	for (size_t i = 0; i < s->n_refs; i++)
		free(s->refs[i].raw);
	s->n_refs = 0;
	map_clear(s->blk_ids);
}

/* Records a request by its id unless it is there already. */
static void refs_add(store_t *s, const uint8_t id[BSEC_HASH_BYTES], struct req_ref r)
{
	if (map_get(s->blk_ids, id, BSEC_HASH_BYTES)) {
		free(r.raw);
		return;
	}
	if (s->n_refs == s->cap_refs) {
		s->cap_refs = s->cap_refs ? 2 * s->cap_refs : 64;
		s->refs = xrealloc(s->refs, s->cap_refs * sizeof(*s->refs));
	}
	s->refs[s->n_refs++] = r;
	map_put(s->blk_ids, id, BSEC_HASH_BYTES, (void *)(uintptr_t)s->n_refs);
}

/* 1 when spec is the instruction's text exactly. */
static int spec_is(const char *spec, const char *instr, size_t len)
{
	return spec && instr && strlen(spec) == len && memcmp(spec, instr, len) == 0;
}

/* The sender column's encoding of a key: scheme byte || key; its length. */
static size_t principal_key(uint8_t out[1 + SIG_MAX_PUB], int scheme, const uint8_t *key)
{
	size_t klen = sig_pub_len(scheme);
	out[0] = (uint8_t)scheme;
	memcpy(out + 1, key, klen);
	return 1 + klen;
}

/* Looks a principal up: 0 and its id, 1 unknown, -1 error.  The cache
 * holds only what is in the file (principals_forget after a rollback). */
static int principal_find(store_t *s, const uint8_t *pk, size_t len, int64_t *id)
{
	void *v = map_get(s->principals, pk, len);
	if (v) {
		*id = (int64_t)(uintptr_t)v;
		return 0;
	}
	sqlite3_stmt *q = s->stmt[S_PRINCIPAL_GET];
	int rc;
	sqlite3_bind_blob(q, 1, pk, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (rc == SQLITE_ROW && *id > 0) {
		map_put(s->principals, pk, len, (void *)(uintptr_t)*id);
		return 0;
	}
	return rc == SQLITE_DONE ? 1 : -1;
}

/* The id of a key, inserted when new (inside the append's transaction). */
static int principal_id(store_t *s, int scheme, const uint8_t *key, int64_t *id, char *err,
			size_t errlen)
{
	uint8_t pk[1 + SIG_MAX_PUB];
	size_t len = principal_key(pk, scheme, key);
	int r = principal_find(s, pk, len, id);
	if (r <= 0) {
		if (r < 0)
			err_set(err, errlen, "looking up a principal: %s", sqlite3_errmsg(s->db));
		return r;
	}
	sqlite3_stmt *q = s->stmt[S_PRINCIPAL_INS];
	sqlite3_bind_blob(q, 1, pk, (int)len, SQLITE_STATIC);
	if (step_done(s, q, "recording a principal", err, errlen) < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(s->db);
	map_put(s->principals, pk, len, (void *)(uintptr_t)*id);
	return 0;
}

/* A rollback took the principals inserted since the last commit with it. */
static void principals_forget(store_t *s)
{
	map_clear(s->principals);
}

static int put_tenant(void *ctx, const tenant_rec_t *t)
{
	append_ctx_t *a = ctx;
	sqlite3_stmt *q = a->s->stmt[S_TENANT_PUT];
	sqlite3_bind_text(q, 1, t->domain, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, t->key.scheme);
	sqlite3_bind_blob(q, 3, t->key.key, (int)sig_pub_len(t->key.scheme), SQLITE_STATIC);
	sqlite3_bind_text(q, 4, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 5, t->sla.ops);
	sqlite3_bind_int64(q, 6, t->sla.max_vms);
	sqlite3_bind_int64(q, 7, t->sla.max_vnfs);
	sqlite3_bind_int64(q, 8, t->sla.max_sfcs);
	sqlite3_bind_int(q, 9, t->sla.max_chain);
	sqlite3_bind_int64(q, 10, t->sla.rate_per_min);
	sqlite3_bind_int(q, 11, t->revoked ? 1 : 0);
	sqlite3_bind_int64(q, 12, (int64_t)t->height);
	return step_done(a->s, q, "writing a tenant", a->err, a->errlen);
}

static int put_object(void *ctx, int kind, const char *name, const object_rec_t *o)
{
	append_ctx_t *a = ctx;
	sqlite3_stmt *q;
	if (!o) {
		q = a->s->stmt[S_OBJECT_DEL];
		sqlite3_bind_int(q, 1, kind);
		sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
		return step_done(a->s, q, "deleting an object", a->err, a->errlen);
	}
	int64_t owner, req_seq;
	int spec_src = 0;
	if (principal_id(a->s, o->owner->scheme, o->owner->key, &owner, a->err, a->errlen) < 0)
		return -1;
	/* the last request by its row; when the spec is that request's
	 * instruction as it stands (a create), it is not stored twice.  The
	 * request is almost always in the block or answered by one of its
	 * responses (refs); any other is looked up. */
	void *v = map_get(a->s->blk_ids, o->last_request, BSEC_HASH_BYTES);
	tx_t t;
	char why[128];
	if (v) {
		const struct req_ref *r = &a->s->refs[(uintptr_t)v - 1];
		req_seq = r->seq;
		if (r->instr) {
			spec_src = spec_is(o->spec, r->instr, r->instr_len);
		} else if (o->spec && tx_decode(&t, r->raw, r->raw_len, a->s->g->chain_id, why,
						sizeof(why)) == 0) {
			spec_src = spec_is(o->spec, t.instruction, t.instruction_len);
			tx_clear(&t);
		}
	} else {
		sqlite3_stmt *r;
		int rc = find_tx(a->s, o->last_request, &r);
		if (rc != SQLITE_ROW) {
			if (rc == SQLITE_DONE)
				err_set(a->err, a->errlen, "object %s: its last request is not in the ledger",
					o->name);
			else
				err_set(a->err, a->errlen, "object %s: looking up its last request: %s",
					o->name, sqlite3_errmsg(a->s->db));
			return -1;
		}
		req_seq = sqlite3_column_int64(r, 1);
		if (o->spec && tx_decode(&t, sqlite3_column_blob(r, 2), (size_t)sqlite3_column_bytes(r, 2),
					 a->s->g->chain_id, why, sizeof(why)) == 0) {
			spec_src = spec_is(o->spec, t.instruction, t.instruction_len);
			tx_clear(&t);
		}
		sqlite3_reset(r);
	}
	q = a->s->stmt[S_OBJECT_PUT];
	sqlite3_bind_int(q, 1, o->kind);
	sqlite3_bind_text(q, 2, o->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, o->domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, owner);
	sqlite3_bind_int(q, 5, o->status);
	if (o->spec && !spec_src)
		sqlite3_bind_text(q, 6, o->spec, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 6);
	if (o->pending_spec)
		sqlite3_bind_text(q, 7, o->pending_spec, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 7);
	sqlite3_bind_int64(q, 8, req_seq);
	sqlite3_bind_int(q, 9, spec_src);
	sqlite3_bind_int64(q, 10, (int64_t)o->height);
	return step_done(a->s, q, "writing an object", a->err, a->errlen);
}

static int put_attest(void *ctx, const attest_rec_t *at)
{
	append_ctx_t *a = ctx;
	sqlite3_stmt *q = a->s->stmt[S_ATTEST_PUT];
	sqlite3_bind_text(q, 1, at->domain, -1, SQLITE_STATIC);
	bind_hash(q, 2, at->tx_id);
	sqlite3_bind_int64(q, 3, (int64_t)at->attested_height);
	sqlite3_bind_int64(q, 4, at->objects);
	sqlite3_bind_int64(q, 5, at->problems);
	bind_hash(q, 6, at->digest);
	sqlite3_bind_int64(q, 7, (int64_t)at->timestamp_ms);
	sqlite3_bind_int64(q, 8, (int64_t)at->height);
	sqlite3_bind_int64(q, 9, (int64_t)at->block_ts);
	return step_done(a->s, q, "writing an attestation", a->err, a->errlen);
}

static int put_objref(store_t *s, int kind, const char *name, int64_t seq, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->stmt[S_OBJREF_INS];
	sqlite3_bind_int(q, 1, kind);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, seq);
	return step_done(s, q, "indexing an object", err, errlen);
}

/* Object rows of a request: its object, the VM of a VNF, a chain's VNFs. */
static int put_request_refs(store_t *s, const tx_t *tx, int64_t seq, char *err, size_t errlen)
{
	size_t pos;
	char why[128];
	const instr_t *in = instr_parse_ref(tx->instruction, tx->instruction_len, &pos, why, sizeof(why));
	if (!in)
		return 0; /* validation refuses these; nothing to index */
	if (put_objref(s, in->kind, in->name, seq, err, errlen) < 0)
		return -1;
	if (in->kind == OBJ_VNF && in->vm[0] && put_objref(s, OBJ_VM, in->vm, seq, err, errlen) < 0)
		return -1;
	for (int i = 0; i < in->n_chain; i++)
		if (put_objref(s, OBJ_VNF, in->chain[i], seq, err, errlen) < 0)
			return -1;
	return 0;
}

/* Stores one tx; with refs, also records the request it is or answers
 * (put_object's refs). */
static int put_tx(store_t *s, const tx_t *tx, uint64_t height, uint32_t idx, int refs, char *err,
		  size_t errlen)
{
	int64_t seq = seq_of(height, idx), sender;
	sqlite3_stmt *q = s->stmt[S_TX_INS], *r;
	char *req_domain = NULL;
	char hx[2 * BSEC_HASH_BYTES + 1];
	int ret = -1, have_req = 0, rc;
	int64_t req_seq = 0;

	if (principal_id(s, tx->scheme, tx->sender, &sender, err, errlen) < 0)
		return -1;
	if (tx->type == TX_RESPONSE) {
		if ((rc = find_tx(s, tx->request_id, &r)) == SQLITE_ROW) {
			if (sqlite3_column_type(r, 0) == SQLITE_TEXT)
				req_domain = xstrdup((const char *)sqlite3_column_text(r, 0));
			req_seq = sqlite3_column_int64(r, 1);
			have_req = 1;
			if (refs) {
				struct req_ref ref = { .seq = req_seq };
				ref.raw_len = (size_t)sqlite3_column_bytes(r, 2);
				ref.raw = xmalloc(ref.raw_len ? ref.raw_len : 1);
				if (ref.raw_len)
					memcpy(ref.raw, sqlite3_column_blob(r, 2), ref.raw_len);
				refs_add(s, tx->request_id, ref);
			}
		}
		if (r)
			sqlite3_reset(r);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			hex32(hx, tx->id);
			err_set(err, errlen, "tx %" PRIu32 " (%s): looking up its request: %s", idx, hx,
				sqlite3_errmsg(s->db));
			return -1;
		}
	} else if (tx->type == TX_REQUEST && refs) {
		refs_add(s, tx->id, (struct req_ref){ .seq = seq, .instr = tx->instruction,
						      .instr_len = tx->instruction_len });
	}
	sqlite3_bind_int64(q, 1, seq);
	sqlite3_bind_int64(q, 2, idp_of(tx->id));
	sqlite3_bind_int(q, 3, tx->type);
	sqlite3_bind_int64(q, 4, sender);
	if (tx->type == TX_REQUEST || tx->type == TX_TENANT || tx->type == TX_ATTEST)
		sqlite3_bind_text(q, 5, tx->domain, (int)tx->domain_len, SQLITE_STATIC);
	else if (req_domain)
		sqlite3_bind_text(q, 5, req_domain, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 5);
	if (have_req)
		sqlite3_bind_int64(q, 6, req_seq);
	else
		sqlite3_bind_null(q, 6);
	sqlite3_bind_blob(q, 7, tx->raw, (int)tx->raw_len, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE) {
		hex32(hx, tx->id);
		err_set(err, errlen, "storing tx %" PRIu32 " (%s): %s", idx, hx, sqlite3_errmsg(s->db));
		sqlite3_reset(q);
		goto out;
	}
	sqlite3_reset(q);
	if (s->ids)
		ids_add(s, idp_of(tx->id), seq);
	if (tx->type == TX_REQUEST) {
		if (put_request_refs(s, tx, seq, err, errlen) < 0)
			goto out;
		q = s->stmt[S_OPEN_INS];
		sqlite3_bind_int64(q, 1, seq);
		if (step_done(s, q, "recording an open request", err, errlen) < 0)
			goto out;
	} else if (tx->type == TX_RESPONSE && have_req) {
		q = s->stmt[S_OPEN_DEL];
		sqlite3_bind_int64(q, 1, req_seq);
		if (step_done(s, q, "closing a request", err, errlen) < 0)
			goto out;
	}
	ret = 0;
out:
	free(req_domain);
	return ret;
}

/* A batch transaction was rolled back: the tip is the durable one again,
 * and err says how many blocks went with it. */
static void batch_lost(store_t *s, char *err, size_t errlen)
{
	uint64_t lost = s->height - s->dur_height;
	s->in_txn = 0;
	principals_forget(s);
	s->ids_stale = 1;
	s->height = s->dur_height;
	s->tip_ts = s->dur_ts;
	memcpy(s->tip_hash, s->dur_hash, BSEC_HASH_BYTES);
	if (lost && err && errlen) {
		size_t used = strlen(err);
		if (used < errlen)
			snprintf(err + used, errlen - used,
				 " (rolled back with it: %" PRIu64 " earlier block%s of the same transaction)",
				 lost, lost == 1 ? "" : "s");
	}
}

/* Commits the open batch transaction, if any. */
static int batch_commit(store_t *s, char *err, size_t errlen)
{
	if (!s->in_txn)
		return 0;
	if (step_done(s, s->stmt[S_COMMIT], "COMMIT", err, errlen) < 0) {
		if (sqlite3_get_autocommit(s->db) == 0)
			(void)step_done(s, s->stmt[S_ROLLBACK], "ROLLBACK", NULL, 0);
		batch_lost(s, err, errlen);
		return -1;
	}
	s->in_txn = 0;
	return 0;
}

/* Appends the block; the derived rows come from st's dirty sets (cleared
 * on success) or from delta d, or neither. */
static int append(store_t *s, const block_t *b, const cert_t *c, state_t *st,
		  const state_delta_t *d, char *err, size_t errlen)
{
	const block_header_t *h = &b->hdr;
	buf_t hdr, cb;
	char a[2 * BSEC_HASH_BYTES + 1], t[2 * BSEC_HASH_BYTES + 1];
	int ret = -1, began = 0;
	sqlite3_stmt *q;
	append_ctx_t ctx = { s, err, errlen };

	buf_init(&hdr);
	buf_init(&cb);
	if (s->readonly) {
		err_set(err, errlen, "%s is open read-only", s->path);
		goto out;
	}
	if (h->height != s->height + 1) {
		err_set(err, errlen, "block height %" PRIu64 " does not follow the tip %" PRIu64,
			h->height, s->height);
		goto out;
	}
	if (h->height >= SEQ_MAX_HEIGHT || h->tx_count > BLOCK_MAX_TXS) {
		err_set(err, errlen, "block %" PRIu64 " with %" PRIu32 " txs is beyond the store's limits",
			h->height, h->tx_count);
		goto out;
	}
	if (memcmp(h->chain_id, s->g->chain_id, BSEC_HASH_BYTES) != 0) {
		hex32(a, h->chain_id);
		err_set(err, errlen, "block %" PRIu64 " is of chain %s, not this ledger's", h->height, a);
		goto out;
	}
	if (memcmp(h->prev_hash, s->tip_hash, BSEC_HASH_BYTES) != 0) {
		hex32(a, h->prev_hash);
		hex32(t, s->tip_hash);
		err_set(err, errlen, "block %" PRIu64 ": prev_hash %s is not the tip's hash %s",
			h->height, a, t);
		goto out;
	}
	block_header_encode_short(&hdr, h, s->g);
	cert_encode_stored(&cb, c);

	if (s->in_txn && sqlite3_get_autocommit(s->db)) {
		/* the batch's transaction ended under it (an error that made
		 * SQLite roll back): writing on would commit this block alone,
		 * after blocks that are gone */
		err_set(err, errlen, "%s: the open batch transaction was rolled back", s->path);
		batch_lost(s, err, errlen);
		goto out;
	}
	if (!s->in_txn) {
		if (step_done(s, s->stmt[S_BEGIN], "BEGIN", err, errlen) < 0)
			goto out;
		if (s->batch) {
			s->in_txn = 1;
			s->dur_height = s->height;
			s->dur_ts = s->tip_ts;
			memcpy(s->dur_hash, s->tip_hash, BSEC_HASH_BYTES);
		}
	}
	began = 1;
	if (s->ids && s->ids_stale && ids_recover(s) < 0) {
		err_set(err, errlen, "%s: reading the recent tx ids: %s", s->path, sqlite3_errmsg(s->db));
		goto out;
	}
	if (dels_run(s, err, errlen) < 0)
		goto out;
	if (s->in_txn)
		dels_clear(s);   /* lost with the batch if it rolls back: harmless */
	q = s->stmt[S_BLOCK_INS];
	sqlite3_bind_int64(q, 1, (int64_t)h->height);
	sqlite3_bind_int64(q, 2, (int64_t)h->timestamp_ms);
	sqlite3_bind_int64(q, 3, h->tx_count);
	sqlite3_bind_blob(q, 4, hdr.data, (int)hdr.len, SQLITE_STATIC);
	sqlite3_bind_blob(q, 5, cb.data, (int)cb.len, SQLITE_STATIC);
	if (step_done(s, q, "storing the block", err, errlen) < 0)
		goto out;
	refs_clear(s);
	for (uint32_t i = 0; i < h->tx_count; i++)
		if (put_tx(s, &b->txs[i], h->height, i, st || d, err, errlen) < 0)
			goto out;
	if (s->ids && ids_sweep(s, h->tx_count, err, errlen) < 0)
		goto out;
	if (st && (state_foreach_dirty(st, put_tenant, put_object, &ctx) != 0 ||
		   state_foreach_dirty_attestation(st, put_attest, &ctx) != 0))
		goto out;
	if (d && state_delta_foreach(d, put_tenant, put_object, put_attest, &ctx) != 0)
		goto out;
	if (!s->in_txn && step_done(s, s->stmt[S_COMMIT], "COMMIT", err, errlen) < 0)
		goto out;
	began = 0;
	if (!s->in_txn)
		dels_clear(s);
	s->height = h->height;
	s->tip_ts = h->timestamp_ms;
	memcpy(s->tip_hash, h->hash, BSEC_HASH_BYTES);
	if (st)
		state_clear_dirty(st);
	ret = 0;
out:
	if (began) {
		if (sqlite3_get_autocommit(s->db) == 0)
			(void)step_done(s, s->stmt[S_ROLLBACK], "ROLLBACK", NULL, 0);
		principals_forget(s);
		s->ids_stale = 1;
		if (s->in_txn)
			batch_lost(s, err, errlen);
	}
	refs_clear(s);   /* they point into b */
	buf_free(&hdr);
	buf_free(&cb);
	return ret;
}

int store_append(store_t *s, const block_t *b, const uint8_t *raw, size_t raw_len,
		 const cert_t *c, state_t *st, char *err, size_t errlen)
{
	(void)raw;
	(void)raw_len;
	return append(s, b, c, st, NULL, err, errlen);
}

int store_append_delta(store_t *s, const block_t *b, const cert_t *c, const state_delta_t *d,
		       char *err, size_t errlen)
{
	return append(s, b, c, NULL, d, err, errlen);
}

int store_batch(store_t *s, int on, char *err, size_t errlen)
{
	int ret = 0;
	if (!s || s->readonly)
		return 0;
	if (!on)
		ret = batch_commit(s, err, errlen);
	s->batch = on;
	return ret;
}

/* ---- reads ---- */

/* Puts the roots of the txs in txb (a block body: u32 length || raw, n
 * times) into row. */
static int row_roots(store_t *s, const buf_t *txb, size_t n, block_row_t *row)
{
	rd_t r;
	rd_init(&r, txb->data, txb->len);
	row->have_roots = block_roots_of_body(s->g->chain_id, &r, (uint32_t)n, row->tx_root,
					      row->sig_root) == 0;
	return row->have_roots ? 0 : -1;
}

/* store_get_block_raw; *altered (ROOTS_*_ALTERED) says that a short
 * header's roots, rebuilt from the txs, do not start as stored: the block
 * comes out with the rebuilt ones (and fails its signatures). */
static int block_raw(store_t *s, uint64_t height, uint8_t **block, size_t *block_len,
		     uint8_t **cert, size_t *cert_len, int *altered)
{
	sqlite3_stmt *q = s->stmt[S_BLOCK_GET], *t = s->stmt[S_BLOCK_TXS];
	buf_t out, txb, cb;
	block_row_t row;
	const uint8_t *hp, *cp;
	size_t hl, cl;
	uint64_t n = 0;
	int ret = -1, rc;

	buf_init(&out);
	buf_init(&txb);
	buf_init(&cb);
	memset(&row, 0, sizeof(row));
	*block = NULL;
	*cert = NULL;
	*altered = 0;
	if (height == 0 || height >= SEQ_MAX_HEIGHT)
		goto out;
	sqlite3_bind_int64(q, 1, (int64_t)height);
	if (sqlite3_step(q) != SQLITE_ROW)
		goto out;
	/* the row's blobs stay valid while q is not stepped again */
	hp = sqlite3_column_blob(q, 0);
	hl = (size_t)sqlite3_column_bytes(q, 0);
	cp = sqlite3_column_blob(q, 1);
	cl = (size_t)sqlite3_column_bytes(q, 1);
	if (sqlite3_column_int64(q, 2) < 0 || sqlite3_column_int64(q, 2) > BLOCK_MAX_TXS)
		goto out;
	row.height = height;
	row.tx_count = (uint32_t)sqlite3_column_int64(q, 2);
	row.timestamp_ms = (uint64_t)sqlite3_column_int64(q, 3);
	sqlite3_bind_int64(t, 1, seq_of(height, 0));
	sqlite3_bind_int64(t, 2, seq_of(height + 1, 0));
	while ((rc = sqlite3_step(t)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(t, 1);
		if (sqlite3_column_int64(t, 0) != seq_of(height, (uint32_t)n))
			break;
		buf_u32(&txb, (uint32_t)len);
		buf_put(&txb, sqlite3_column_blob(t, 1), len);
		n++;
	}
	if (n != row.tx_count)
		goto out;
	if (block_stored_needs_roots(hp, hl) && row_roots(s, &txb, n, &row) < 0)
		goto out;
	if (block_header_expand_row(&out, hp, hl, s->g->chain_id, s->g, &row, NULL, 0) < 0 ||
	    row.columns_differ)
		goto out;
	*altered = row.roots_altered;
	buf_put(&out, txb.data, txb.len);
	if (block_stored_is_short(hp, hl)) {
		if (cert_expand_stored(&cb, cp, cl, NULL, 0) < 0)
			goto out;
	} else {
		buf_put(&cb, cp, cl);
	}
	*cert = buf_steal(&cb, cert_len);
	*block = buf_steal(&out, block_len);
	ret = 0;
out:
	sqlite3_reset(q);
	sqlite3_reset(t);
	buf_free(&out);
	buf_free(&txb);
	buf_free(&cb);
	return ret;
}

int store_get_block_raw(store_t *s, uint64_t height, uint8_t **block, size_t *block_len,
			uint8_t **cert, size_t *cert_len)
{
	int altered = 0;
	if (block_raw(s, height, block, block_len, cert, cert_len, &altered) < 0)
		return -1;
	if (altered) {
		/* txs that do not give the roots the header was sealed with: the
		 * file changed under the node; the block would fail wherever it went */
		free(*block);
		free(*cert);
		*block = *cert = NULL;
		return -1;
	}
	return 0;
}

int store_get_block(store_t *s, uint64_t height, block_t *b, cert_t *c, char *err, size_t errlen)
{
	uint8_t *raw = NULL, *craw = NULL;
	size_t len = 0, clen = 0;
	int ret = -1;

	if (store_get_block_raw(s, height, &raw, &len, &craw, &clen) < 0) {
		err_set(err, errlen, "no block %" PRIu64 " in %s", height, s->path);
		goto out;
	}
	if (block_decode(b, raw, len, err, errlen) < 0)
		goto out;
	if (cert_decode(c, craw, clen, err, errlen) < 0) {
		block_clear(b);
		goto out;
	}
	ret = 0;
out:
	free(raw);
	free(craw);
	return ret;
}

int store_block_ts(store_t *s, uint64_t height, uint64_t *ts)
{
	sqlite3_stmt *q = s->stmt[S_BLOCK_TS];
	int ret = -1;
	sqlite3_bind_int64(q, 1, (int64_t)(height < SEQ_MAX_HEIGHT ? height : SEQ_MAX_HEIGHT));
	if (sqlite3_step(q) == SQLITE_ROW) {
		*ts = (uint64_t)sqlite3_column_int64(q, 0);
		ret = 0;
	}
	sqlite3_reset(q);
	return ret;
}

int store_get_tx(store_t *s, const uint8_t id[BSEC_HASH_BYTES], uint8_t **raw, size_t *len,
		 uint64_t *height, uint32_t *index)
{
	sqlite3_stmt *q;
	int ret = -1;

	if (find_tx(s, id, &q) != SQLITE_ROW)
		goto out;
	*len = (size_t)sqlite3_column_bytes(q, 2);
	*raw = xmalloc(*len ? *len : 1);
	if (*len)
		memcpy(*raw, sqlite3_column_blob(q, 2), *len);
	int64_t seq = sqlite3_column_int64(q, 1);
	if (height)
		*height = (uint64_t)seq >> SEQ_SHIFT;
	if (index)
		*index = (uint32_t)(seq & ((1 << SEQ_SHIFT) - 1));
	ret = 0;
out:
	if (q)
		sqlite3_reset(q);
	return ret;
}

int store_find_response(store_t *s, const uint8_t req_id[BSEC_HASH_BYTES],
			uint8_t resp_id[BSEC_HASH_BYTES])
{
	sqlite3_stmt *q = s->stmt[S_RESP_FIND], *r;
	int ret = -1, rc;

	if (s->schema >= 4) {
		/* the request's row first; no request, no response */
		rc = find_tx(s, req_id, &r);
		if (rc == SQLITE_ROW)
			sqlite3_bind_int64(q, 1, sqlite3_column_int64(r, 1));
		if (r)
			sqlite3_reset(r);
		if (rc != SQLITE_ROW)
			return rc == SQLITE_DONE ? 1 : -1;
	} else {
		bind_hash(q, 2, req_id);
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_DONE)
		ret = 1;
	else if (rc == SQLITE_ROW && tx_raw_id(sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0),
					     s->g->chain_id, resp_id) == 0)
		ret = 0;
	sqlite3_reset(q);
	return ret;
}

/* ---- state loading ---- */

/* Copies a text column into a fixed buffer; -1 when absent or too long. */
static int col_str(sqlite3_stmt *q, int i, char *out, size_t cap)
{
	const unsigned char *p = sqlite3_column_text(q, i);
	size_t n = (size_t)sqlite3_column_bytes(q, i);
	if (!p || n >= cap)
		return -1;
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

static int col_key(sqlite3_stmt *q, int si, int ki, pubkey_t *k)
{
	int scheme = sqlite3_column_int(q, si);
	const uint8_t *p;
	memset(k, 0, sizeof(*k));
	if (!sig_scheme_valid(scheme) || !(p = col_fixed(q, ki, sig_pub_len(scheme))))
		return -1;
	k->scheme = (uint8_t)scheme;
	memcpy(k->key, p, sig_pub_len(scheme));
	return 0;
}

/* An object's owner: columns 3 (scheme) and 4 (key) in schema 2, column 4
 * alone (scheme byte || key, from principals) in schema 3. */
static int col_owner(const store_t *s, sqlite3_stmt *q, pubkey_t *k)
{
	if (s->schema < 3)
		return col_key(q, 3, 4, k);
	const uint8_t *p = sqlite3_column_blob(q, 4);
	size_t n = (size_t)sqlite3_column_bytes(q, 4);
	memset(k, 0, sizeof(*k));
	if (!p || n < 1 || !sig_scheme_valid(p[0]) || n != 1 + sig_pub_len(p[0]))
		return -1;
	k->scheme = p[0];
	memcpy(k->key, p + 1, n - 1);
	return 0;
}

static int load_tenants(store_t *s, state_t *st, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->stmt[S_LOAD_TENANTS];
	tenant_rec_t t;
	int rc, ret = -1;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(&t, 0, sizeof(t));
		if (col_str(q, 0, t.domain, sizeof(t.domain)) < 0 || col_key(q, 1, 2, &t.key) < 0 ||
		    col_str(q, 3, t.name, sizeof(t.name)) < 0) {
			err_set(err, errlen, "%s: corrupt tenant row", s->path);
			goto out;
		}
		t.sla.ops = (uint16_t)sqlite3_column_int(q, 4);
		t.sla.max_vms = (uint32_t)sqlite3_column_int64(q, 5);
		t.sla.max_vnfs = (uint32_t)sqlite3_column_int64(q, 6);
		t.sla.max_sfcs = (uint32_t)sqlite3_column_int64(q, 7);
		t.sla.max_chain = (uint16_t)sqlite3_column_int(q, 8);
		t.sla.rate_per_min = (uint32_t)sqlite3_column_int64(q, 9);
		t.revoked = sqlite3_column_int(q, 10) != 0;
		t.height = (uint64_t)sqlite3_column_int64(q, 11);
		state_load_tenant(st, &t);
	}
	if (rc != SQLITE_DONE) {
		err_set(err, errlen, "%s: reading tenants: %s", s->path, sqlite3_errmsg(s->db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(q);
	return ret;
}

static int load_objects(store_t *s, state_t *st, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->stmt[S_LOAD_OBJECTS];
	object_rec_t o;
	pubkey_t owner;
	const uint8_t *lr;
	char why[128];
	int rc, ret = -1;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		tx_t req;
		int have_req = 0, spec_src = sqlite3_column_int(q, 10);
		memset(&o, 0, sizeof(o));
		o.kind = (uint8_t)sqlite3_column_int(q, 0);
		if (col_str(q, 1, o.name, sizeof(o.name)) < 0 ||
		    col_str(q, 2, o.domain, sizeof(o.domain)) < 0 || col_owner(s, q, &owner) < 0) {
			err_set(err, errlen, "%s: corrupt object row", s->path);
			goto out;
		}
		if (s->schema >= 3) {
			/* the last request's row: its id, and the spec when it is its
			 * instruction */
			lr = sqlite3_column_blob(q, 8);
			if (!lr || tx_decode(&req, lr, (size_t)sqlite3_column_bytes(q, 8), s->g->chain_id,
					     why, sizeof(why)) < 0) {
				err_set(err, errlen, "%s: object %s: its last request %s", s->path, o.name,
					lr ? "does not decode" : "is missing");
				goto out;
			}
			have_req = 1;
			memcpy(o.last_request, req.id, BSEC_HASH_BYTES);
		} else if ((lr = col_fixed(q, 8, BSEC_HASH_BYTES))) {
			memcpy(o.last_request, lr, BSEC_HASH_BYTES);
		} else {
			err_set(err, errlen, "%s: corrupt object row", s->path);
			goto out;
		}
		if (spec_src && !(have_req && req.instruction)) {
			err_set(err, errlen, "%s: object %s: its spec is its last request's instruction, "
				"which has none", s->path, o.name);
			if (have_req)
				tx_clear(&req);
			goto out;
		}
		o.owner = pubkey_intern(owner.scheme, owner.key);
		o.status = (uint8_t)sqlite3_column_int(q, 5);
		/* state_load_object copies what it keeps */
		if (spec_src)
			o.spec = xstrndup(req.instruction, req.instruction_len);
		else
			o.spec = (char *)sqlite3_column_text(q, 6);
		o.pending_spec = (char *)sqlite3_column_text(q, 7);
		o.height = (uint64_t)sqlite3_column_int64(q, 9);
		state_load_object(st, &o);
		if (spec_src)
			free(o.spec);
		if (have_req)
			tx_clear(&req);
	}
	if (rc != SQLITE_DONE) {
		err_set(err, errlen, "%s: reading objects: %s", s->path, sqlite3_errmsg(s->db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(q);
	return ret;
}

static int load_open(store_t *s, state_t *st, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->stmt[S_LOAD_OPEN];
	const uint8_t *cid = s->g->chain_id;
	open_request_t r;
	instr_t in;
	tx_t tx;
	char why[256];
	size_t pos;
	int rc, ret = -1;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (tx_decode(&tx, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0), cid,
			      why, sizeof(why)) < 0) {
			err_set(err, errlen, "%s: stored request does not decode: %s", s->path, why);
			goto out;
		}
		rc = tx.type == TX_REQUEST && tx.domain_len <= TX_MAX_DOMAIN
			     ? instr_parse(&in, tx.instruction, tx.instruction_len, &pos, why,
					   sizeof(why))
			     : -1;
		if (rc < 0) {
			tx_clear(&tx);
			err_set(err, errlen, "%s: stored open request is not a valid request", s->path);
			goto out;
		}
		memset(&r, 0, sizeof(r));
		memcpy(r.id, tx.id, BSEC_HASH_BYTES);
		memcpy(r.domain, tx.domain, tx.domain_len);
		r.kind = (uint8_t)in.kind;
		r.verb = (uint8_t)in.verb;
		memcpy(r.name, in.name, sizeof(r.name));
		r.height = (uint64_t)sqlite3_column_int64(q, 1);
		r.timestamp_ms = tx.timestamp_ms;
		state_load_open_request(st, &r);
		tx_clear(&tx);
	}
	if (rc != SQLITE_DONE) {
		err_set(err, errlen, "%s: reading open requests: %s", s->path, sqlite3_errmsg(s->db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(q);
	return ret;
}

static int load_attests(store_t *s, state_t *st, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->stmt[S_LOAD_ATTESTS];
	attest_rec_t a;
	const uint8_t *id, *dg;
	int rc, ret = -1;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(&a, 0, sizeof(a));
		if (col_str(q, 0, a.domain, sizeof(a.domain)) < 0 ||
		    !(id = col_fixed(q, 1, BSEC_HASH_BYTES)) || !(dg = col_fixed(q, 5, BSEC_HASH_BYTES))) {
			err_set(err, errlen, "%s: corrupt attestation row", s->path);
			goto out;
		}
		memcpy(a.tx_id, id, BSEC_HASH_BYTES);
		a.attested_height = (uint64_t)sqlite3_column_int64(q, 2);
		a.objects = (uint32_t)sqlite3_column_int64(q, 3);
		a.problems = (uint32_t)sqlite3_column_int64(q, 4);
		memcpy(a.digest, dg, BSEC_HASH_BYTES);
		a.timestamp_ms = (uint64_t)sqlite3_column_int64(q, 6);
		a.height = (uint64_t)sqlite3_column_int64(q, 7);
		a.block_ts = (uint64_t)sqlite3_column_int64(q, 8);
		state_load_attestation(st, &a);
	}
	if (rc != SQLITE_DONE) {
		err_set(err, errlen, "%s: reading attestations: %s", s->path, sqlite3_errmsg(s->db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(q);
	return ret;
}

/* The lowest height whose block's timestamp is >= since, 0 when the tip's
 * is older.  Validation makes block timestamps rise strictly with height
 * (heights 1 .. tip are all stored), so a binary search over the rowid
 * replaces an index by timestamp.  -1 when a block is missing. */
static int first_since(store_t *s, uint64_t since, uint64_t *first)
{
	uint64_t lo = 1, hi = s->height, ts;
	*first = 0;
	if (!hi)
		return 0;
	if (store_block_ts(s, hi, &ts) < 0)
		return -1;
	if (ts < since)
		return 0;
	while (lo < hi) {                     /* ts(hi) >= since */
		uint64_t mid = lo + (hi - lo) / 2;
		if (store_block_ts(s, mid, &ts) < 0)
			return -1;
		if (ts >= since)
			hi = mid;
		else
			lo = mid + 1;
	}
	*first = lo;
	return 0;
}

/* Recent txs are every tx of the blocks with ts >= tip_ts -
 * state_recent_span_ms, loaded with their block's timestamp (the state
 * ages them, and counts request rates, by block time). */
static int load_recent(store_t *s, state_t *st, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->stmt[S_LOAD_RECENT];
	uint64_t span = state_recent_span_ms(st);
	uint64_t since = s->tip_ts > span ? s->tip_ts - span : 0;
	uint64_t first = 0;
	char why[256];
	tx_t tx;
	int rc, ret = -1;

	if (first_since(s, since, &first) < 0) {
		err_set(err, errlen, "%s: a block below the tip %" PRIu64 " is missing", s->path, s->height);
		return -1;
	}
	if (!first) {
		ret = 0;
		goto out;
	}
	sqlite3_bind_int64(q, 1, seq_of(first, 0));
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (tx_decode(&tx, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0),
			      s->g->chain_id, why, sizeof(why)) < 0) {
			err_set(err, errlen, "%s: stored tx does not decode: %s", s->path, why);
			goto out;
		}
		state_load_recent_tx(st, tx.id, (uint64_t)sqlite3_column_int64(q, 1), &tx);
		tx_clear(&tx);
	}
	if (rc != SQLITE_DONE) {
		err_set(err, errlen, "%s: reading recent txs: %s", s->path, sqlite3_errmsg(s->db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_reset(q);
	return ret;
}

int store_load_state(store_t *s, state_t *st, char *err, size_t errlen)
{
	state_set_tip(st, s->height, s->tip_ts);
	if (load_tenants(s, st, err, errlen) < 0 || load_objects(s, st, err, errlen) < 0 ||
	    load_open(s, st, err, errlen) < 0 || load_attests(s, st, err, errlen) < 0 ||
	    load_recent(s, st, err, errlen) < 0)
		return -1;
	/* the dirty marks state_new left on the genesis tenants stay: writing
	 * them again with the next block is harmless and keeps the tenants
	 * table complete when the ledger is still empty */
	return 0;
}

int store_load_state_snapshot(store_t *s, state_t *st, char *err, size_t errlen)
{
	/* a deferred BEGIN: one read snapshot for the tip and every row */
	if (exec_sql(s->db, "BEGIN", err, errlen) < 0)
		return -1;
	int r = load_tip(s, err, errlen) < 0 || store_load_state(s, st, err, errlen) < 0 ? -1 : 0;
	(void)exec_sql(s->db, "COMMIT", NULL, 0);
	return r;
}

/* ---- the index columns, against the txs they index ---- */

typedef struct {
	int kind;
	char name[INSTR_MAX_NAME + 1];
	int64_t seq;
} objref_t;

static int objref_cmp(const void *a, const void *b)
{
	const objref_t *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct {
	int64_t seq;
	char *domain;
} idx_req_t;

static void idx_req_free(void *v)
{
	idx_req_t *r = v;
	if (!r)
		return;
	free(r->domain);
	free(r);
}

static void objref_push(objref_t **v, size_t *n, size_t *cap, int kind, const char *name, int64_t seq)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	objref_t *o = &(*v)[(*n)++];
	o->kind = kind;
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->seq = seq;
}

int store_check_index(store_t *s, uint64_t upto, char *why, size_t wl)
{
	sqlite3_stmt *q = NULL, *p = NULL;
	map_t *principals = map_new(), *reqs = map_new();
	objref_t *want = NULL;
	size_t n_want = 0, cap_want = 0, i;
	int ret = -1, rc;
	char hx[2 * BSEC_HASH_BYTES + 1], e[256];
	int64_t end = seq_of(upto + 1, 0);

	if (exec_sql(s->db, "BEGIN", why, wl) < 0) {
		map_free(principals);
		map_free(reqs);
		return -1;
	}
	if (sqlite3_prepare_v2(s->db, "SELECT id, key FROM principals", -1, &p, NULL) != SQLITE_OK)
		goto sqlerr;
	while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
		int64_t *id = xmalloc(sizeof(*id));
		*id = sqlite3_column_int64(p, 0);
		free(map_put(principals, sqlite3_column_blob(p, 1), (size_t)sqlite3_column_bytes(p, 1), id));
	}
	if (rc != SQLITE_DONE)
		goto sqlerr;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT seq, idp, type, sender, domain, request_seq, raw FROM txs"
			       " WHERE seq < ?1 ORDER BY seq",
			       -1, &q, NULL) != SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_int64(q, 1, end);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(q, 0);
		tx_t tx;
		uint64_t h = (uint64_t)seq >> SEQ_SHIFT;
		uint32_t ix = (uint32_t)(seq & ((1 << SEQ_SHIFT) - 1));
		if (tx_decode(&tx, sqlite3_column_blob(q, 6), (size_t)sqlite3_column_bytes(q, 6), s->g->chain_id,
			      e, sizeof(e)) < 0)
			continue;   /* the chain's own check names it better */
		uint8_t pk[1 + SIG_MAX_PUB];
		size_t pl = principal_key(pk, tx.scheme, tx.sender);
		const int64_t *sender = map_get(principals, pk, pl);
		const idx_req_t *rq = tx.type == TX_RESPONSE ? map_get(reqs, tx.request_id, BSEC_HASH_BYTES) : NULL;
		const char *dom = sqlite3_column_type(q, 4) == SQLITE_TEXT ? (const char *)sqlite3_column_text(q, 4)
									  : NULL;
		char *want_dom = tx.type == TX_RESPONSE ? (rq && rq->domain ? xstrdup(rq->domain) : NULL)
							: xstrndup(tx.domain, tx.domain_len);
		const char *what = NULL;
		if (sqlite3_column_int64(q, 1) != idp_of(tx.id))
			what = "id prefix";
		else if (sqlite3_column_int(q, 2) != tx.type)
			what = "type";
		else if (!sender || sqlite3_column_int64(q, 3) != *sender)
			what = "sender";
		else if ((dom == NULL) != (want_dom == NULL) || (dom && strcmp(dom, want_dom)))
			what = "domain";
		else if ((sqlite3_column_type(q, 5) == SQLITE_NULL) != (rq == NULL) ||
			 (rq && sqlite3_column_int64(q, 5) != rq->seq))
			what = "request it answers";
		free(want_dom);
		if (what) {
			hex32(hx, tx.id);
			err_set(why, wl, "block %" PRIu64 " tx %" PRIu32 " (%s): the row's %s is not the tx's", h, ix,
				hx, what);
			tx_clear(&tx);
			ret = 1;
			goto out;
		}
		if (tx.type == TX_REQUEST) {
			idx_req_t *r = xcalloc(1, sizeof(*r));
			r->seq = seq;
			r->domain = xstrndup(tx.domain, tx.domain_len);
			idx_req_free(map_put(reqs, tx.id, BSEC_HASH_BYTES, r));
			size_t pos;
			const instr_t *in = instr_parse_ref(tx.instruction, tx.instruction_len, &pos, e, sizeof(e));
			if (in) {
				objref_push(&want, &n_want, &cap_want, in->kind, in->name, seq);
				if (in->kind == OBJ_VNF && in->vm[0])
					objref_push(&want, &n_want, &cap_want, OBJ_VM, in->vm, seq);
				for (int k = 0; k < in->n_chain; k++)
					objref_push(&want, &n_want, &cap_want, OBJ_VNF, in->chain[k], seq);
			}
		}
		tx_clear(&tx);
	}
	if (rc != SQLITE_DONE)
		goto sqlerr;
	/* the object index: exactly the objects the requests name */
	qsort(want, n_want, sizeof(*want), objref_cmp);
	size_t m = 0;
	for (i = 0; i < n_want; i++)
		if (!m || objref_cmp(&want[m - 1], &want[i]))
			want[m++] = want[i];
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(s->db, "SELECT kind, name, seq FROM tx_objects WHERE seq < ?1 ORDER BY kind, name, seq",
			       -1, &q, NULL) != SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_int64(q, 1, end);
	i = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		objref_t got = { .kind = sqlite3_column_int(q, 0), .seq = sqlite3_column_int64(q, 2) };
		snprintf(got.name, sizeof(got.name), "%s", (const char *)sqlite3_column_text(q, 1));
		if (i >= m || objref_cmp(&got, &want[i])) {
			const objref_t *o = i < m && objref_cmp(&want[i], &got) < 0 ? &want[i] : &got;
			err_set(why, wl, "the object index %s %s %s for the tx at block %" PRIu64 " index %" PRIu64,
				o == &got ? "has" : "lacks", obj_kind_name(o->kind), o->name,
				(uint64_t)o->seq >> SEQ_SHIFT, (uint64_t)(o->seq & ((1 << SEQ_SHIFT) - 1)));
			ret = 1;
			goto out;
		}
		i++;
	}
	if (rc != SQLITE_DONE)
		goto sqlerr;
	if (i < m) {
		err_set(why, wl, "the object index lacks %s %s for the tx at block %" PRIu64 " index %" PRIu64,
			obj_kind_name(want[i].kind), want[i].name, (uint64_t)want[i].seq >> SEQ_SHIFT,
			(uint64_t)(want[i].seq & ((1 << SEQ_SHIFT) - 1)));
		ret = 1;
		goto out;
	}
	ret = 0;
	goto out;
sqlerr:
	err_set(why, wl, "reading the index rows: %s", sqlite3_errmsg(s->db));
	ret = -1;
out:
	sqlite3_finalize(q);
	sqlite3_finalize(p);
	(void)exec_sql(s->db, "COMMIT", NULL, 0);
	map_free_values(principals, free);
	map_free_values(reqs, idx_req_free);
	free(want);
	return ret;
}

int store_load_state_light(store_t *s, state_t *st, char *err, size_t errlen)
{
	state_set_tip(st, s->height, s->tip_ts);
	if (load_tenants(s, st, err, errlen) < 0 || load_attests(s, st, err, errlen) < 0)
		return -1;
	return 0;
}

/* ---- consensus metadata ---- */

/* Runs the pending deletes inside the caller's open transaction. */
static int dels_run(store_t *s, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->stmt[S_META_DEL];
	for (size_t i = 0; i < s->n_dels; i++) {
		sqlite3_bind_text(q, 1, s->dels[i], -1, SQLITE_STATIC);
		if (step_done(s, q, "deleting consensus metadata", err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* Forgets the pending deletes (after the transaction that ran them). */
static void dels_clear(store_t *s)
{
	for (size_t i = 0; i < s->n_dels; i++)
		free(s->dels[i]);
	s->n_dels = 0;
}

/* Consensus metadata: the puts (n of them) and the pending deletes in one
 * transaction, deletes first, so a put of a key deleted earlier stays. */
static int cmeta_write(store_t *s, size_t n, const char *const *keys, const uint8_t *const *vals,
		      const size_t *lens)
{
	sqlite3_stmt *q = s->stmt[S_META_PUT];
	if (s->readonly)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (lens[i] > INT32_MAX)
			return -1;
	/* durable when this returns: first the blocks of an open batch (the
	 * record may speak of them), then the records in one transaction;
	 * synchronous=FULL fsyncs the WAL before either returns */
	if (batch_commit(s, NULL, 0) < 0)
		return -1;
	if (step_done(s, s->stmt[S_BEGIN], "BEGIN", NULL, 0) < 0)
		return -1;
	if (dels_run(s, NULL, 0) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(q, 1, keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 2, lens[i] ? (const void *)vals[i] : "", (int)lens[i], SQLITE_STATIC);
		if (step_done(s, q, "meta", NULL, 0) < 0)
			goto fail;
	}
	if (step_done(s, s->stmt[S_COMMIT], "COMMIT", NULL, 0) < 0)
		goto fail;
	dels_clear(s);
	return 0;
fail:
	if (sqlite3_get_autocommit(s->db) == 0)
		(void)step_done(s, s->stmt[S_ROLLBACK], "ROLLBACK", NULL, 0);
	return -1;
}

/* The pending deletes in a transaction of their own (before reads of
 * the metadata, when too many wait, on close). */
static int dels_flush(store_t *s)
{
	return s->n_dels ? cmeta_write(s, 0, NULL, NULL, NULL) : 0;
}

int store_meta_put(store_t *s, const char *key, const void *val, size_t len)
{
	const uint8_t *v = val;
	return cmeta_write(s, 1, &key, &v, &len);
}

int store_meta_put_many(store_t *s, size_t n, const char *const *keys, const uint8_t *const *vals,
			const size_t *lens)
{
	return cmeta_write(s, n, keys, vals, lens);
}

int store_meta_del(store_t *s, const char *key)
{
	if (s->readonly)
		return -1;
	if (s->in_txn) {
		/* a batch is open: join it */
		sqlite3_stmt *q = s->stmt[S_META_DEL];
		sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
		if (step_done(s, q, "meta", NULL, 0) == 0)
			return 0;
		/* an error that ended the transaction (disk full, I/O) took the
		 * batch's blocks with it: the tip goes back to what is durable,
		 * and the next append begins a transaction of its own */
		if (sqlite3_get_autocommit(s->db)) {
			log_warn("store", "%s: deleting consensus metadata failed and rolled back the open batch "
				 "(%" PRIu64 " blocks); the tip is back at %" PRIu64, s->path,
				 s->height - s->dur_height, s->dur_height);
			batch_lost(s, NULL, 0);
		}
		return -1;
	}
	if (s->n_dels == s->cap_dels) {
		s->cap_dels = s->cap_dels ? 2 * s->cap_dels : 16;
		s->dels = xrealloc(s->dels, s->cap_dels * sizeof(*s->dels));
	}
	s->dels[s->n_dels++] = xstrdup(key);
	return s->n_dels >= STORE_MAX_DELS ? dels_flush(s) : 0;
}

int store_meta_foreach(store_t *s, const char *prefix, store_meta_cb cb, void *ctx)
{
	sqlite3_stmt *q = s->stmt[S_META_LIST];
	int ret = 0, rc;
	if (dels_flush(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, prefix, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (cb(ctx, (const char *)sqlite3_column_text(q, 0), sqlite3_column_blob(q, 1),
		       (size_t)sqlite3_column_bytes(q, 1)) != 0) {
			ret = 1;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(q);
	return ret;
}

int store_meta_get(store_t *s, const char *key, uint8_t **val, size_t *len)
{
	sqlite3_stmt *q = s->stmt[S_META_GET];
	int ret = -1, rc;
	if (dels_flush(s) < 0)
		return -1;

	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		ret = 1;
	} else if (rc == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(q, 0);
		*val = xmalloc(*len);
		if (*len)
			memcpy(*val, sqlite3_column_blob(q, 0), *len);
		ret = 0;
	}
	sqlite3_reset(q);
	return ret;
}

/* ---- queries ---- */

int store_query_txs(store_t *s, const store_query_t *qr, store_tx_cb cb, void *ctx)
{
	uint8_t sender[1 + SIG_MAX_PUB];
	size_t slen = 0;
	int64_t sender_id = 0;
	int which = S_Q_ALL, rc, ret = -1;
	int has_obj = qr->obj_name != NULL;
	sqlite3_stmt *q;

	if (has_obj && (qr->obj_kind < OBJ_VM || qr->obj_kind > OBJ_SFC))
		return -1;
	if (has_obj)
		which = S_Q_OBJECT;
	else if (qr->sender)
		which = S_Q_SENDER;
	else if (qr->domain)
		which = S_Q_DOMAIN;
	else if (qr->type >= TX_TENANT)
		which = S_Q_TYPE;
	q = s->stmt[which];
	if (qr->sender)
		slen = principal_key(sender, qr->sender->scheme, qr->sender->key);
	if (qr->sender && s->schema >= 3) {
		rc = principal_find(s, sender, slen, &sender_id);
		if (rc != 0)
			return rc > 0 ? 0 : -1;   /* a key that never signed a tx: no txs */
		sqlite3_bind_int64(q, 1, sender_id);
	} else if (qr->sender) {
		sqlite3_bind_blob(q, 1, sender, (int)slen, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(q, 1);
	}
	sqlite3_bind_int(q, 2, qr->type);
	if (qr->domain)
		sqlite3_bind_text(q, 3, qr->domain, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 3);
	sqlite3_bind_int(q, 4, has_obj ? qr->obj_kind : 0);
	if (has_obj)
		sqlite3_bind_text(q, 5, qr->obj_name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 5);
	sqlite3_bind_int64(q, 6, qr->from_height < SEQ_MAX_HEIGHT
					 ? seq_of(qr->from_height, qr->from_index < (1u << SEQ_SHIFT)
								       ? qr->from_index : (1u << SEQ_SHIFT) - 1)
					 : seq_of(SEQ_MAX_HEIGHT, 0));
	sqlite3_bind_int64(q, 7, qr->limit ? (int64_t)qr->limit : -1);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (cb(ctx, (uint64_t)sqlite3_column_int64(q, 0), (uint32_t)sqlite3_column_int64(q, 1),
		       (uint64_t)sqlite3_column_int64(q, 2), sqlite3_column_blob(q, 3),
		       (size_t)sqlite3_column_bytes(q, 3)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc == SQLITE_DONE)
		ret = 0;
	sqlite3_reset(q);
	return ret;
}

/* ---- raw scan for the auditor ---- */

struct store_scan_t {
	sqlite3 *db;
	sqlite3_stmt *blocks, *txs;
	int tx_row;              /* txs has a current row */
	int tx_done;
	uint8_t *header, *cert;
	const genesis_t *g;      /* expands stored headers (NULL: none) */
	uint8_t chain_id[BSEC_HASH_BYTES];
	int have_chain_id;
	store_scan_tx_t *tx;
	size_t tx_cap;
	uint8_t **tx_raw;        /* per-slot copies, reused */
	size_t *tx_raw_cap;
	uint64_t stray, stray_first;
};

int store_scan_open(store_scan_t **out, const char *dir, const genesis_t *g, char *err,
		    size_t errlen)
{
	store_scan_t *sc = xcalloc(1, sizeof(*sc));
	char *path = xasprintf("%s/%s", dir, STORE_DB_NAME);
	int ret = -1;

	pthread_once(&sqlite_once, sqlite_setup);

	*out = NULL;
	if (sqlite3_open_v2(path, &sc->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		err_set(err, errlen, "cannot open `%s': %s", path,
			sc->db ? sqlite3_errmsg(sc->db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(sc->db, STORE_BUSY_MS);
	/* plain rowid-order table scans: no secondary index is consulted */
	/* the id's prefix (schema 4), or the id (older files) */
	if (sqlite3_prepare_v2(sc->db,
			       "SELECT height, header, cert, ts, tx_count FROM blocks NOT INDEXED"
			       " ORDER BY height",
			       -1, &sc->blocks, NULL) != SQLITE_OK ||
	    (sqlite3_prepare_v2(sc->db, "SELECT seq, idp, raw FROM txs NOT INDEXED ORDER BY seq", -1,
				&sc->txs, NULL) != SQLITE_OK &&
	     sqlite3_prepare_v2(sc->db, "SELECT seq, id, raw FROM txs NOT INDEXED ORDER BY seq", -1,
				&sc->txs, NULL) != SQLITE_OK)) {
		err_set(err, errlen, "`%s' is not a BSec ledger: %s", path, sqlite3_errmsg(sc->db));
		goto out;
	}
	sc->g = g;
	sc->have_chain_id = store_scan_chain_id(sc, sc->chain_id) == 0;
	*out = sc;
	sc = NULL;
	ret = 0;
out:
	store_scan_close(sc);
	free(path);
	return ret;
}

int store_scan_chain_id(store_scan_t *sc, uint8_t out[BSEC_HASH_BYTES])
{
	uint8_t *val = NULL;
	size_t len = 0;
	int r = meta_read(sc->db, "chain_id", &val, &len);
	if (r == 0) {
		if (len == BSEC_HASH_BYTES)
			memcpy(out, val, BSEC_HASH_BYTES);
		else
			r = -1;
	}
	free(val);
	return r;
}

/* Moves the tx cursor one row on. */
static int scan_tx_step(store_scan_t *sc, char *err, size_t errlen)
{
	int rc = sqlite3_step(sc->txs);
	sc->tx_row = rc == SQLITE_ROW;
	sc->tx_done = rc == SQLITE_DONE;
	if (!sc->tx_row && !sc->tx_done) {
		err_set(err, errlen, "reading txs: %s", sqlite3_errmsg(sc->db));
		return -1;
	}
	return 0;
}

static void scan_stray(store_scan_t *sc, int64_t seq)
{
	if (!sc->stray++)
		sc->stray_first = (uint64_t)seq >> SEQ_SHIFT;
}

/* The header and certificate of the current block row as signed, from
 * the row (its columns, and its txs in blk for a header without roots).
 * A stored form that cannot be expanded is handed on as it is, and fails
 * to decode where it is checked. */
static void scan_expand(store_scan_t *sc, store_scan_block_t *blk)
{
	buf_t hb, cb;
	block_row_t row;
	const uint8_t *p = sqlite3_column_blob(sc->blocks, 1);
	size_t n = (size_t)sqlite3_column_bytes(sc->blocks, 1);
	const uint8_t *cp = sqlite3_column_blob(sc->blocks, 2);
	size_t cn = (size_t)sqlite3_column_bytes(sc->blocks, 2);
	int64_t count = sqlite3_column_int64(sc->blocks, 4);

	buf_init(&hb);
	buf_init(&cb);
	memset(&row, 0, sizeof(row));
	row.height = blk->height;
	row.timestamp_ms = (uint64_t)sqlite3_column_int64(sc->blocks, 3);
	row.tx_count = count >= 0 && count <= UINT32_MAX ? (uint32_t)count : UINT32_MAX;
	if (block_stored_needs_roots(p, n) && sc->have_chain_id) {
		const uint8_t **raw = xmalloc((blk->n_txs ? blk->n_txs : 1) * sizeof(*raw));
		size_t *len = xmalloc((blk->n_txs ? blk->n_txs : 1) * sizeof(*len));
		for (size_t i = 0; i < blk->n_txs; i++) {
			raw[i] = blk->txs[i].raw;
			len[i] = blk->txs[i].len;
		}
		row.have_roots = block_roots_of_raw(sc->chain_id, blk->n_txs, raw, len, row.tx_root,
						    row.sig_root) == 0;
		free(raw);
		free(len);
	}
	if (!sc->have_chain_id ||
	    block_header_expand_row(&hb, p, n, sc->chain_id, sc->g, &row, NULL, 0) < 0) {
		buf_reset(&hb);
		buf_put(&hb, p, n);
	}
	blk->roots_altered = row.roots_altered;
	blk->columns_differ = row.columns_differ;
	if (!block_stored_is_short(p, n) || cert_expand_stored(&cb, cp, cn, NULL, 0) < 0) {
		buf_reset(&cb);
		buf_put(&cb, cp, cn);
	}
	sc->header = buf_steal(&hb, &blk->header_len);
	sc->cert = buf_steal(&cb, &blk->cert_len);
	blk->header = sc->header;
	blk->cert = sc->cert;
}

int store_scan_next(store_scan_t *sc, store_scan_block_t *blk, char *err, size_t errlen)
{
	int rc;
	uint64_t h;

	memset(blk, 0, sizeof(*blk));
	free(sc->header);
	free(sc->cert);
	sc->header = sc->cert = NULL;
	if (!sc->tx_row && !sc->tx_done && scan_tx_step(sc, err, errlen) < 0)
		return -1;
	rc = sqlite3_step(sc->blocks);
	if (rc == SQLITE_DONE) {
		/* the rest of the tx rows belong to no block */
		while (sc->tx_row) {
			scan_stray(sc, sqlite3_column_int64(sc->txs, 0));
			if (scan_tx_step(sc, err, errlen) < 0)
				return -1;
		}
		return 1;
	}
	if (rc != SQLITE_ROW) {
		err_set(err, errlen, "reading blocks: %s", sqlite3_errmsg(sc->db));
		return -1;
	}
	h = (uint64_t)sqlite3_column_int64(sc->blocks, 0);
	blk->height = h;
	while (sc->tx_row) {
		int64_t seq = sqlite3_column_int64(sc->txs, 0);
		uint64_t th = (uint64_t)seq >> SEQ_SHIFT;
		store_scan_tx_t *t;
		const uint8_t *id;
		size_t n;
		if (seq < 0 || th < h) {
			scan_stray(sc, seq);
		} else if (th > h) {
			break;
		} else {
			if (blk->n_txs == sc->tx_cap) {
				size_t cap = sc->tx_cap ? 2 * sc->tx_cap : 64;
				sc->tx = xrealloc(sc->tx, cap * sizeof(*sc->tx));
				sc->tx_raw = xrealloc(sc->tx_raw, cap * sizeof(*sc->tx_raw));
				sc->tx_raw_cap = xrealloc(sc->tx_raw_cap, cap * sizeof(*sc->tx_raw_cap));
				for (size_t i = sc->tx_cap; i < cap; i++) {
					sc->tx_raw[i] = NULL;
					sc->tx_raw_cap[i] = 0;
				}
				sc->tx_cap = cap;
			}
			t = &sc->tx[blk->n_txs];
			memset(t, 0, sizeof(*t));
			t->height = th;
			t->index = (uint32_t)(seq & ((1 << SEQ_SHIFT) - 1));
			if (sqlite3_column_type(sc->txs, 1) == SQLITE_INTEGER) {
				uint64_t v = (uint64_t)sqlite3_column_int64(sc->txs, 1);
				for (int i = 0; i < STORE_ID_HINT_BYTES; i++)
					t->stored_id[i] = (uint8_t)(v >> (8 * (STORE_ID_HINT_BYTES - 1 - i)));
			} else if ((id = col_fixed(sc->txs, 1, BSEC_HASH_BYTES)) != NULL) {
				memcpy(t->stored_id, id, BSEC_HASH_BYTES);
			}
			n = (size_t)sqlite3_column_bytes(sc->txs, 2);
			if (n > sc->tx_raw_cap[blk->n_txs]) {
				free(sc->tx_raw[blk->n_txs]);
				sc->tx_raw[blk->n_txs] = xmalloc(n);
				sc->tx_raw_cap[blk->n_txs] = n;
			}
			if (n)
				memcpy(sc->tx_raw[blk->n_txs], sqlite3_column_blob(sc->txs, 2), n);
			t->raw = sc->tx_raw[blk->n_txs];
			t->len = n;
			blk->n_txs++;
		}
		if (scan_tx_step(sc, err, errlen) < 0)
			return -1;
	}
	blk->txs = sc->tx;
	scan_expand(sc, blk);
	return 0;
}

uint64_t store_scan_stray(const store_scan_t *sc, uint64_t *first_height)
{
	if (first_height)
		*first_height = sc->stray_first;
	return sc->stray;
}

void store_scan_close(store_scan_t *sc)
{
	if (!sc)
		return;
	sqlite3_finalize(sc->blocks);
	sqlite3_finalize(sc->txs);
	if (sc->db)
		sqlite3_close(sc->db);
	for (size_t i = 0; i < sc->tx_cap; i++)
		free(sc->tx_raw[i]);
	free(sc->tx_raw);
	free(sc->tx_raw_cap);
	free(sc->tx);
	free(sc->header);
	free(sc->cert);
	free(sc);
}
