/*
 * pbft.c — the PBFT replica state machine (see pbft.h for the protocol,
 * the message formats and the node's contract).
 *
 * Layout of the state: a ring of `log_window` slots, one per height above
 * the last delivered block, each holding the current view's pre-prepare,
 * the PREPAREs of the current view, the COMMITs of any view (the highest
 * per sender), our own votes (persisted), the prepared certificate of the
 * highest view and, once a quorum of COMMITs of one view is seen, the
 * commit certificate.  Three cursors walk the slots in height order:
 * acc_tip (pre-prepares accepted, i.e. validated by the node on top of
 * each other), com_tip (COMMITs sent) and delivered.  pump() advances them
 * as far as the messages allow after every event.
 *
 * Blocks are reference-counted (blk_t) so a block shared by a slot, a
 * prepared certificate, a stored VIEW-CHANGE and a NEW-VIEW is held once.
 */
#include "pbft.h"
#include "../lib/buf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "pbft"
#define HB BSEC_HASH_BYTES
#define CERT_BLOB_MAX (10u + PBFT_MAX_NODES * (4u + SIG_MAX_SIG))
#define BLOCKS_MAX_COUNT 1024
/* after a state-transfer reply or a re-ask: how long pbft_fetching stays
 * true waiting for the next reply */
#define PBFT_XFER_GRACE_MS 300
#define PERSIST_VERSION 1

/* ---------------------------------------------------------------- types */

typedef struct {
	unsigned refs;
	uint64_t height;
	uint8_t hash[HB], prev[HB];
	size_t len;
	uint8_t data[];
} blk_t;

typedef struct {
	uint8_t have;
	uint64_t view;
	uint8_t hash[HB];
	uint16_t sig_len;
	uint8_t sig[SIG_MAX_SIG];
} vote_t;

typedef struct {
	uint16_t node;
	uint16_t len;
	uint8_t sig[SIG_MAX_SIG];
} psig_t;

enum { PP_NONE = 0, PP_PENDING, PP_ACCEPTED, PP_REJECTED };

typedef struct {
	uint64_t height;          /* 0: unused */
	/* pre-prepare of pp_view (the current view once the view is entered) */
	int pp_state;
	uint64_t pp_view;
	blk_t *pp;
	uint8_t *pp_msg;          /* our own signed PRE-PREPARE (leader) */
	size_t pp_msg_len;
	int pp_msg_sent;
	/* PREPAREs of votes_view; COMMITs: the highest view per sender */
	uint64_t votes_view;
	vote_t *prep;             /* [n] */
	vote_t *com;              /* [n] */
	/* own votes (persisted before sending) */
	int my_prep;
	uint64_t my_prep_view;
	uint8_t my_prep_hash[HB];
	int my_com;
	uint64_t my_com_view;
	uint8_t my_com_hash[HB];
	uint8_t *prep_msg, *com_msg;
	size_t prep_msg_len, com_msg_len;
	/* prepared certificate of the highest view */
	int pc;
	uint64_t pc_view;
	blk_t *pc_blk;            /* may be NULL after a restore that lost it */
	uint8_t pc_hash[HB];
	uint16_t pc_n;
	psig_t *pc_sigs;          /* [n] */
	/* what "pbft.pp.<h>" holds, and whether any key exists */
	blk_t *persisted_pp;
	int persisted;
	/* commit certificate */
	int committed;
	uint8_t c_hash[HB];
	cert_t cert;
} slot_t;

typedef struct {
	uint64_t view, height;
	uint8_t hash[HB];
	uint16_t nsig;
	psig_t *sigs;
	blk_t *blk;               /* attachment (NULL when embedded in a NEW-VIEW) */
} pentry_t;

typedef struct {
	int have;
	uint16_t sender;
	uint64_t view;
	uint64_t c_height;
	uint8_t c_hash[HB];
	cert_t c_cert;
	uint16_t count;
	pentry_t *e;
	uint8_t *raw;             /* signed part + signature, no attachments */
	size_t raw_len, signed_len;
	int verified;
} vc_t;

typedef struct {
	int have;
	uint64_t view;
	uint8_t hash[HB];
	blk_t *blk;
} pick_t;

typedef struct {
	int have;
	uint64_t height;
	uint8_t hash[HB];
} ckpt_t;

typedef struct {
	int type;
	uint16_t sender;
	uint64_t view, height, to;
	uint8_t hash[HB];
	uint8_t has_nv;
	const uint8_t *blob;
	size_t blob_len;
	size_t signed_len;
	const uint8_t *sig;
	size_t sig_len;
	uint16_t nvc;
	const uint8_t **vc;
	size_t *vc_len;
	uint16_t nblk;
	uint64_t *bh;
	const uint8_t **blk;
	size_t *blk_len;
	const uint8_t **cert;
	size_t *cert_len;
	vc_t *vcm;
} msg_t;

typedef struct {
	char key[48];
} stale_key_t;

struct pbft_t {
	pbft_config_t cfg;
	pbft_callbacks_t cb;
	unsigned f, q, L;
	int failed, started;
	uint64_t now;

	uint64_t view;
	int in_vc;
	unsigned streak;             /* consecutive view changes without delivery */

	uint64_t delivered;
	uint8_t delivered_hash[HB];
	cert_t delivered_cert;

	uint64_t spec_tip, acc_tip, com_tip, pp_top;
	slot_t *slots;

	/* view change */
	vc_t *vcs;                   /* [n]: highest view per sender */
	int nv_sent;
	uint64_t vc_deadline;

	/* NEW-VIEW of the current view */
	int nv_known;
	uint64_t nv_base, nv_top;
	blk_t **nv_chain;            /* heights nv_base+1 .. nv_top */
	uint8_t *nv_msg;             /* the last NEW-VIEW we accepted, for view sync */
	size_t nv_len;
	uint64_t nv_msg_view;
	uint64_t *nv_sent_to;        /* [n] */

	/* timers */
	uint64_t progress_deadline;
	uint64_t retransmit_at;
	uint64_t rt_delivered;

	/* checkpoints */
	ckpt_t *ckpt;                /* [n] latest per sender */
	uint64_t stable_ckpt;

	/* state transfer */
	uint64_t fetch_target;
	int fetch_peer;
	uint64_t fetch_next_at;
	unsigned fetch_attempts;
	uint64_t *served_at;         /* [n] */
	int64_t *serve_budget;       /* [n] reply bytes a peer may still be sent */
	uint64_t *budget_at;         /* [n] when serve_budget was last topped up */
	uint64_t *defer_from, *defer_to; /* [n] a FETCH held back by the budget (from 0: none) */
	uint64_t *probed_at;         /* [n] when we last asked that peer unprompted */
	uint64_t *ahead;             /* [n] highest height of a verified message from that
					member beyond our log window (committed_floor) */
	int reprobe_peer;            /* ask it again at reprobe_at (-1: no one) */
	uint64_t reprobe_at;
	uint64_t xfer_until;         /* a re-ask may still bring blocks until then */
	uint64_t sync_asked_at;

	/* restore */
	int restored_view_have, restored_in_vc;
	uint64_t restored_view;
	stale_key_t *stale;
	size_t n_stale;

	pbft_stats_t st;
};

static void pump(pbft_t *p);
static void start_vc(pbft_t *p, uint64_t w, const char *why);
static void vc_progress(pbft_t *p);

/* ---------------------------------------------------------------- small helpers */

/* The k-th largest of v[0..n) (1 <= k <= n), by a partial selection sort
 * that reorders v; n is at most a consortium's size. */
static uint64_t kth_largest(uint64_t *v, size_t n, size_t k)
{
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < n; j++)
			if (v[j] > v[i]) {
				uint64_t t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	return v[k - 1];
}

static const char *const drop_names[PBFT_DROP__COUNT] = {
	"malformed", "not_member", "bad_sig", "wrong_view", "duplicate",
	"out_of_window", "not_leader", "equivocation", "invalid", "rate_limited",
};

const char *pbft_drop_name(pbft_drop_t d)
{
	return (unsigned)d < PBFT_DROP__COUNT ? drop_names[d] : "unknown";
}

static const char *const msg_names[] = {
	NULL, "pre-prepare", "prepare", "commit", "checkpoint", "view-change", "new-view", "fetch",
	"blocks",
};

const char *pbft_msg_name(int type)
{
	return type >= 1 && type <= PBFT_MSG_BLOCKS ? msg_names[type] : NULL;
}

unsigned pbft_f(unsigned n)
{
	return n ? (n - 1) / 3 : 0;
}

unsigned pbft_quorum(unsigned n)
{
	return n - pbft_f(n);
}

void pbft_config_default(pbft_config_t *c, uint16_t n, uint16_t self)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->self = self;
	c->view_timeout_ms = 2000;
	c->max_timeout_ms = 60000;
	c->backoff_max_shift = 3;
	c->checkpoint_interval = 100;
	c->window = 4;
	c->log_window = 8;
	c->retransmit_ms = 1000;
	c->fetch_retry_ms = 500;
	c->fetch_serve_ms = 10;
	c->fetch_serve_bytes_s = 32u << 20;
	c->fetch_max_blocks = 64;
	c->max_block_bytes = 4u << 20;
	c->max_msg_bytes = 60u << 20;
}

static int drop(pbft_t *p, pbft_drop_t why, const msg_t *m, const char *detail)
{
	p->st.dropped[why]++;
	log_debug(MOD, "drop reason=%s type=%s sender=%u view=%" PRIu64 " height=%" PRIu64 " detail=\"%s\"",
		  drop_names[why], m && pbft_msg_name(m->type) ? pbft_msg_name(m->type) : "?",
		  m ? m->sender : 0, m ? m->view : 0, m ? m->height : 0, detail ? detail : "");
	return -1;
}

static uint16_t leader_of(const pbft_t *p, uint64_t v)
{
	return (uint16_t)(v % p->cfg.n);
}

static uint64_t cur_timeout(const pbft_t *p)
{
	unsigned sh = p->streak < p->cfg.backoff_max_shift ? p->streak : p->cfg.backoff_max_shift;
	if (sh > 20)
		sh = 20;
	uint64_t t = p->cfg.view_timeout_ms << sh;
	return t < p->cfg.max_timeout_ms ? t : p->cfg.max_timeout_ms;
}

static void hex8(char out[17], const uint8_t *h)
{
	hex_encode(out, h, 8);
}

/* ---------------------------------------------------------------- blocks */

/* whole: check that the body is what the hash commits to (block_id);
 * only the blocks this node built itself skip it. */
static blk_t *blk_new(pbft_t *p, const uint8_t *data, size_t len, uint64_t want_height, int whole)
{
	uint64_t h = 0, view = 0;
	uint8_t hash[HB], prev[HB];
	if (len == 0 || len > p->cfg.max_block_bytes)
		return NULL;
	/* whole: bytes whose body is not what their hash commits to never
	 * enter the log, whoever sent them (pre-prepare, view-change
	 * attachment, new-view, state transfer) */
	if (p->cb.block_id(p->cb.ctx, data, len, whole, &h, &view, hash, prev) != 0)
		return NULL;
	if (want_height && h != want_height)
		return NULL;
	blk_t *b = xmalloc(sizeof(*b) + len);
	b->refs = 1;
	b->height = h;
	memcpy(b->hash, hash, HB);
	memcpy(b->prev, prev, HB);
	b->len = len;
	memcpy(b->data, data, len);
	return b;
}

static blk_t *blk_ref(blk_t *b)
{
	if (b)
		b->refs++;
	return b;
}

static void blk_unref(blk_t *b)
{
	if (b && --b->refs == 0)
		free(b);
}

static void blk_set(blk_t **dst, blk_t *b)
{
	blk_ref(b);
	blk_unref(*dst);
	*dst = b;
}

static void cert_copy(cert_t *dst, const cert_t *src)
{
	cert_clear(dst);
	if (!src)
		return;
	dst->view = src->view;
	dst->n = src->n;
	dst->sigs = xcalloc(src->n ? src->n : 1, sizeof(cert_sig_t));
	if (src->n)
		memcpy(dst->sigs, src->sigs, src->n * sizeof(cert_sig_t));
}

/* ---------------------------------------------------------------- slots */

static slot_t *slot_peek(pbft_t *p, uint64_t h)
{
	if (h <= p->delivered || h > p->delivered + p->L)
		return NULL;
	slot_t *s = &p->slots[h % p->L];
	return s->height == h ? s : NULL;
}

static slot_t *slot_get(pbft_t *p, uint64_t h)
{
	if (h <= p->delivered || h > p->delivered + p->L)
		return NULL;
	slot_t *s = &p->slots[h % p->L];
	if (s->height == h)
		return s;
	if (s->height != 0) {
		/* internal invariant: slots are cleared as delivered advances */
		log_error(MOD, "slot ring corrupt: index %" PRIu64 " holds height %" PRIu64 ", wanted %" PRIu64,
			  h % p->L, s->height, h);
		abort();
	}
	s->height = h;
	s->votes_view = p->view;
	return s;
}

static void slot_clear(slot_t *s, unsigned n)
{
	vote_t *prep = s->prep, *com = s->com;
	psig_t *pcs = s->pc_sigs;
	blk_unref(s->pp);
	blk_unref(s->pc_blk);
	blk_unref(s->persisted_pp);
	free(s->pp_msg);
	free(s->prep_msg);
	free(s->com_msg);
	cert_clear(&s->cert);
	memset(s, 0, sizeof(*s));
	memset(prep, 0, n * sizeof(*prep));
	memset(com, 0, n * sizeof(*com));
	memset(pcs, 0, n * sizeof(*pcs));
	s->prep = prep;
	s->com = com;
	s->pc_sigs = pcs;
}

/* Resets a slot's current-view state for view v (keeps commits, own votes,
 * the prepared certificate and what is persisted). */
static void slot_new_view(slot_t *s, unsigned n, uint64_t v)
{
	if (s->pp_view < v) {
		blk_set(&s->pp, NULL);
		s->pp_state = PP_NONE;
		s->pp_view = 0;
		free(s->pp_msg);
		s->pp_msg = NULL;
		s->pp_msg_len = 0;
		s->pp_msg_sent = 0;
	}
	if (s->votes_view != v) {
		memset(s->prep, 0, n * sizeof(*s->prep));
		s->votes_view = v;
	}
	if (s->my_prep_view < v) {
		free(s->prep_msg);
		s->prep_msg = NULL;
	}
	if (s->my_com_view < v) {
		free(s->com_msg);
		s->com_msg = NULL;
	}
}

/* ---------------------------------------------------------------- sending */

static uint8_t *signed_bytes(const pbft_t *p, const uint8_t *body, size_t len, size_t *out_len)
{
	size_t tl = sizeof(PBFT_TAG) - 1;
	uint8_t *m = xmalloc(tl + HB + len);
	memcpy(m, PBFT_TAG, tl);
	memcpy(m + tl, p->cfg.chain_id, HB);
	if (len)
		memcpy(m + tl + HB, body, len);
	*out_len = tl + HB + len;
	return m;
}

/* Appends u16 sig_len || sig over `what` to b.  0 / -1. */
static int append_sig(pbft_t *p, buf_t *b, const uint8_t *what, size_t what_len)
{
	uint8_t sig[SIG_MAX_SIG];
	size_t sl = sizeof(sig);
	if (p->cb.sign(p->cb.ctx, what, what_len, sig, &sl) != 0 || sl == 0 || sl > SIG_MAX_SIG) {
		log_error(MOD, "signing failed (len %zu)", sl);
		return -1;
	}
	buf_u16(b, (uint16_t)sl);
	buf_put(b, sig, sl);
	return 0;
}

/* Signs body b (type .. fields) the usual way and appends the signature. */
static int seal(pbft_t *p, buf_t *b)
{
	size_t sl;
	uint8_t *sb = signed_bytes(p, b->data, b->len, &sl);
	int r = append_sig(p, b, sb, sl);
	free(sb);
	return r;
}

static void out_bcast(pbft_t *p, const uint8_t *m, size_t len)
{
	if (p->cfg.n > 1) {
		p->cb.broadcast(p->cb.ctx, m, len);
		p->st.msgs_out += p->cfg.n - 1u;
	}
}

static void out_send(pbft_t *p, uint16_t to, const uint8_t *m, size_t len)
{
	if (to != p->cfg.self && to < p->cfg.n) {
		p->cb.send(p->cb.ctx, to, m, len);
		p->st.msgs_out++;
	}
}

static void body_head(buf_t *b, const pbft_t *p, int type)
{
	buf_init(b);
	buf_u8(b, (uint8_t)type);
	buf_u16(b, p->cfg.self);
}

/* PREPARE: body bytes for (node, view, height, hash), as signed. */
static void prepare_body(buf_t *b, uint16_t node, uint64_t v, uint64_t h, const uint8_t hash[HB])
{
	buf_init(b);
	buf_u8(b, PBFT_MSG_PREPARE);
	buf_u16(b, node);
	buf_u64(b, v);
	buf_u64(b, h);
	buf_put(b, hash, HB);
}

/* ---------------------------------------------------------------- persistence */

static int persist(pbft_t *p, const char *key, const uint8_t *val, size_t len)
{
	int r = p->cb.persist(p->cb.ctx, key, val, len);
	if (r != 0)
		log_error(MOD, "persist failed key=%s len=%zu", key, len);
	return r;
}

static int persist_view(pbft_t *p, uint64_t v, int in_vc)
{
	buf_t b;
	buf_init(&b);
	buf_u8(&b, PERSIST_VERSION);
	buf_u64(&b, v);
	buf_u8(&b, in_vc ? 1 : 0);
	int r = persist(p, "pbft.view", b.data, b.len);
	buf_free(&b);
	return r;
}

/* Writes the vote record of s (own votes + prepared certificate) and, when
 * pp is given and differs from what is stored, the pre-prepare's block.
 * With persist_many both go in one write; else the vote record goes
 * first and carries the certificate's block whenever the pre-prepare key
 * will not hold it, so a crash in between never loses the block of a
 * prepared certificate. */
static int persist_slot(pbft_t *p, slot_t *s, blk_t *pp)
{
	char vkey[48], pkey[48];
	int ret = -1;
	buf_t b, pb;
	buf_init(&b);
	buf_init(&pb);
	const blk_t *pp_after = pp ? pp : s->persisted_pp;
	int pc_block = s->pc && s->pc_blk && (!pp_after || memcmp(pp_after->hash, s->pc_hash, HB) != 0);
	uint8_t flags = (uint8_t)((s->my_prep ? 1 : 0) | (s->my_com ? 2 : 0) | (s->pc ? 4 : 0) |
				  (pc_block ? 8 : 0));
	buf_u8(&b, PERSIST_VERSION);
	buf_u8(&b, flags);
	if (s->my_prep) {
		buf_u64(&b, s->my_prep_view);
		buf_put(&b, s->my_prep_hash, HB);
	}
	if (s->my_com) {
		buf_u64(&b, s->my_com_view);
		buf_put(&b, s->my_com_hash, HB);
	}
	if (s->pc) {
		buf_u64(&b, s->pc_view);
		buf_put(&b, s->pc_hash, HB);
		buf_u16(&b, s->pc_n);
		for (uint16_t i = 0; i < s->pc_n; i++) {
			buf_u16(&b, s->pc_sigs[i].node);
			buf_u16(&b, s->pc_sigs[i].len);
			buf_put(&b, s->pc_sigs[i].sig, s->pc_sigs[i].len);
		}
	}
	if (pc_block)
		buf_blob32(&b, s->pc_blk->data, s->pc_blk->len);
	snprintf(vkey, sizeof(vkey), "pbft.vote.%" PRIu64, s->height);
	int new_pp = pp && (!s->persisted_pp || memcmp(s->persisted_pp->hash, pp->hash, HB) != 0);
	if (new_pp) {
		buf_u8(&pb, PERSIST_VERSION);
		buf_blob32(&pb, pp->data, pp->len);
		snprintf(pkey, sizeof(pkey), "pbft.pp.%" PRIu64, s->height);
	}
	if (new_pp && p->cb.persist_many) {
		const char *keys[2] = { vkey, pkey };
		const uint8_t *vals[2] = { b.data, pb.data };
		size_t lens[2] = { b.len, pb.len };
		if (p->cb.persist_many(p->cb.ctx, 2, keys, vals, lens) != 0) {
			log_error(MOD, "persist failed keys=%s,%s", vkey, pkey);
			goto out;
		}
		s->persisted = 1;
	} else {
		if (persist(p, vkey, b.data, b.len) != 0)
			goto out;
		s->persisted = 1;
		if (new_pp && persist(p, pkey, pb.data, pb.len) != 0)
			goto out;
	}
	if (new_pp)
		blk_set(&s->persisted_pp, pp);
	ret = 0;
out:
	buf_free(&b);
	buf_free(&pb);
	return ret;
}

static void unpersist_height(pbft_t *p, uint64_t h)
{
	char key[48];
	snprintf(key, sizeof(key), "pbft.vote.%" PRIu64, h);
	p->cb.persist(p->cb.ctx, key, NULL, 0);
	snprintf(key, sizeof(key), "pbft.pp.%" PRIu64, h);
	p->cb.persist(p->cb.ctx, key, NULL, 0);
}

/* ---------------------------------------------------------------- decoding */

static void msg_free(msg_t *m);
static void vc_clear(vc_t *v);

/* Reads "u16 sig_len, sig" and records where the signed part ends. */
static void read_sig(rd_t *r, msg_t *m)
{
	m->signed_len = r->off;
	size_t at = r->off;
	uint16_t sl = rd_u16(r);
	if (rd_ok(r) && (sl == 0 || sl > SIG_MAX_SIG)) {
		r->off = at;
		rd_fail(r, "bad signature length");
		return;
	}
	m->sig = rd_bytes(r, sl);
	m->sig_len = sl;
}

static void read_psigs(rd_t *r, const pbft_t *p, uint16_t *nsig, psig_t **out)
{
	size_t at = r->off;
	uint16_t ns = rd_u16(r);
	*nsig = 0;
	*out = NULL;
	if (!rd_ok(r))
		return;
	if (ns == 0 || ns > p->cfg.n) {
		r->off = at;
		rd_fail(r, "bad prepare signature count");
		return;
	}
	psig_t *s = xcalloc(ns, sizeof(*s));
	for (uint16_t i = 0; i < ns && rd_ok(r); i++) {
		at = r->off;
		s[i].node = rd_u16(r);
		if (rd_ok(r) && (s[i].node >= p->cfg.n || (i > 0 && s[i].node <= s[i - 1].node))) {
			r->off = at;
			rd_fail(r, "prepare signers not distinct members in order");
			break;
		}
		at = r->off;
		s[i].len = rd_u16(r);
		if (rd_ok(r) && (s[i].len == 0 || s[i].len > SIG_MAX_SIG)) {
			r->off = at;
			rd_fail(r, "bad signature length");
			break;
		}
		rd_copy(r, s[i].sig, s[i].len);
	}
	*nsig = ns;
	*out = s;
}

/* Parses a VIEW-CHANGE (with or without its block attachments) into v.
 * Structure only: signatures are checked by vc_verify. */
static int vc_parse(pbft_t *p, const uint8_t *data, size_t len, int with_att, vc_t *v,
		    const char **why)
{
	msg_t m;
	rd_t r;
	memset(v, 0, sizeof(*v));
	memset(&m, 0, sizeof(m));
	rd_init(&r, data, len);
	if (rd_u8(&r) != PBFT_MSG_VIEW_CHANGE && rd_ok(&r))
		rd_fail(&r, "not a view-change");
	size_t at = r.off;
	v->sender = rd_u16(&r);
	if (rd_ok(&r) && v->sender >= p->cfg.n) {
		r.off = at;
		rd_fail(&r, "sender not a member");
	}
	v->view = rd_u64(&r);
	if (rd_ok(&r) && v->view == 0)
		rd_fail(&r, "view-change to view 0");
	v->c_height = rd_u64(&r);
	rd_copy(&r, v->c_hash, HB);
	size_t cl = 0;
	const uint8_t *cb = rd_blob32(&r, &cl, CERT_BLOB_MAX);
	if (rd_ok(&r)) {
		if (v->c_height == 0) {
			if (cl != 0 || memcmp(v->c_hash, p->cfg.chain_id, HB) != 0)
				rd_fail(&r, "height-0 checkpoint must be the chain id without certificate");
		} else if (cert_decode(&v->c_cert, cb, cl, NULL, 0) != 0) {
			rd_fail(&r, "bad checkpoint certificate encoding");
		}
	}
	at = r.off;
	uint16_t cnt = rd_u16(&r);
	if (rd_ok(&r) && cnt > p->L) {
		r.off = at;
		rd_fail(&r, "too many prepared entries");
	}
	if (rd_ok(&r) && cnt) {
		v->e = xcalloc(cnt, sizeof(*v->e));
		v->count = cnt;
	}
	for (uint16_t i = 0; i < cnt && rd_ok(&r); i++) {
		pentry_t *e = &v->e[i];
		at = r.off;
		e->view = rd_u64(&r);
		e->height = rd_u64(&r);
		if (rd_ok(&r) && (e->view >= v->view || e->height <= v->c_height ||
				  (i > 0 && e->height <= v->e[i - 1].height))) {
			r.off = at;
			rd_fail(&r, "prepared entry out of order or range");
			break;
		}
		rd_copy(&r, e->hash, HB);
		read_psigs(&r, p, &e->nsig, &e->sigs);
	}
	read_sig(&r, &m);
	if (rd_ok(&r)) {
		v->raw_len = r.off;
		v->signed_len = m.signed_len;
	}
	for (uint16_t i = 0; with_att && i < cnt && rd_ok(&r); i++) {
		size_t bl = 0;
		at = r.off;
		const uint8_t *bb = rd_blob32(&r, &bl, p->cfg.max_block_bytes);
		if (!rd_ok(&r))
			break;
		v->e[i].blk = blk_new(p, bb, bl, v->e[i].height, 1);
		if (!v->e[i].blk || memcmp(v->e[i].blk->hash, v->e[i].hash, HB) != 0) {
			r.off = at;
			rd_fail(&r, "attached block does not match its entry");
		}
	}
	rd_end(&r);
	if (!rd_ok(&r)) {
		*why = r.err;
		vc_clear(v);
		return -1;
	}
	v->raw = xmalloc(v->raw_len);
	memcpy(v->raw, data, v->raw_len);
	v->have = 1;
	return 0;
}

static void vc_clear(vc_t *v)
{
	for (uint16_t i = 0; i < v->count; i++) {
		free(v->e[i].sigs);
		blk_unref(v->e[i].blk);
	}
	free(v->e);
	free(v->raw);
	cert_clear(&v->c_cert);
	memset(v, 0, sizeof(*v));
}

/* Full structural decode of one message (signature not checked). */
static int msg_decode(pbft_t *p, const uint8_t *data, size_t len, msg_t *m, const char **why)
{
	rd_t r;
	memset(m, 0, sizeof(*m));
	*why = NULL;
	if (len < 3) {
		*why = "truncated";
		return -1;
	}
	m->type = data[0];
	m->sender = (uint16_t)(data[1] << 8 | data[2]);
	if (m->type == PBFT_MSG_VIEW_CHANGE) {
		m->vcm = xcalloc(1, sizeof(vc_t));
		if (vc_parse(p, data, len, 1, m->vcm, why) != 0) {
			free(m->vcm);
			m->vcm = NULL;
			return -1;
		}
		m->view = m->vcm->view;
		m->height = m->vcm->c_height;
		m->signed_len = m->vcm->signed_len;
		m->sig = data + m->vcm->signed_len + 2;
		m->sig_len = m->vcm->raw_len - m->vcm->signed_len - 2;
		return 0;
	}
	rd_init(&r, data, len);
	rd_u8(&r);
	rd_u16(&r);
	size_t at;
	switch (m->type) {
	case PBFT_MSG_PRE_PREPARE:
		m->view = rd_u64(&r);
		m->height = rd_u64(&r);
		m->blob = rd_blob32(&r, &m->blob_len, p->cfg.max_block_bytes);
		if (rd_ok(&r) && m->blob_len == 0)
			rd_fail(&r, "empty block");
		break;
	case PBFT_MSG_PREPARE:
	case PBFT_MSG_COMMIT:
		m->view = rd_u64(&r);
		m->height = rd_u64(&r);
		rd_copy(&r, m->hash, HB);
		break;
	case PBFT_MSG_CHECKPOINT:
		m->height = rd_u64(&r);
		rd_copy(&r, m->hash, HB);
		break;
	case PBFT_MSG_NEW_VIEW:
		m->view = rd_u64(&r);
		at = r.off;
		m->nvc = rd_u16(&r);
		if (rd_ok(&r) && (m->nvc == 0 || m->nvc > p->cfg.n)) {
			r.off = at;
			rd_fail(&r, "bad view-change count");
			break;
		}
		if (!rd_ok(&r))
			break;
		m->vc = xcalloc(m->nvc, sizeof(*m->vc));
		m->vc_len = xcalloc(m->nvc, sizeof(*m->vc_len));
		for (uint16_t i = 0; i < m->nvc && rd_ok(&r); i++)
			m->vc[i] = rd_blob32(&r, &m->vc_len[i], p->cfg.max_msg_bytes);
		at = r.off;
		m->nblk = rd_u16(&r);
		if (rd_ok(&r) && m->nblk > p->L) {
			r.off = at;
			rd_fail(&r, "too many blocks");
			break;
		}
		if (!rd_ok(&r) || !m->nblk)
			break;
		m->bh = xcalloc(m->nblk, sizeof(*m->bh));
		m->blk = xcalloc(m->nblk, sizeof(*m->blk));
		m->blk_len = xcalloc(m->nblk, sizeof(*m->blk_len));
		for (uint16_t i = 0; i < m->nblk && rd_ok(&r); i++) {
			at = r.off;
			m->bh[i] = rd_u64(&r);
			if (rd_ok(&r) && i > 0 && m->bh[i] <= m->bh[i - 1]) {
				r.off = at;
				rd_fail(&r, "block heights not increasing");
				break;
			}
			m->blk[i] = rd_blob32(&r, &m->blk_len[i], p->cfg.max_block_bytes);
		}
		break;
	case PBFT_MSG_FETCH:
		m->height = rd_u64(&r);
		m->to = rd_u64(&r);
		m->view = rd_u64(&r);
		at = r.off;
		m->has_nv = rd_u8(&r);
		if (rd_ok(&r) && m->has_nv > 1) {
			r.off = at;
			rd_fail(&r, "bad flag");
		}
		if (rd_ok(&r) && (m->height == 0 || m->to < m->height))
			rd_fail(&r, "bad fetch range");
		break;
	case PBFT_MSG_BLOCKS:
		at = r.off;
		m->nblk = rd_u16(&r);
		if (rd_ok(&r) && m->nblk > BLOCKS_MAX_COUNT) {
			r.off = at;
			rd_fail(&r, "too many blocks");
			break;
		}
		if (!rd_ok(&r) || !m->nblk)
			break;
		m->bh = xcalloc(m->nblk, sizeof(*m->bh));
		m->blk = xcalloc(m->nblk, sizeof(*m->blk));
		m->blk_len = xcalloc(m->nblk, sizeof(*m->blk_len));
		m->cert = xcalloc(m->nblk, sizeof(*m->cert));
		m->cert_len = xcalloc(m->nblk, sizeof(*m->cert_len));
		for (uint16_t i = 0; i < m->nblk && rd_ok(&r); i++) {
			at = r.off;
			m->bh[i] = rd_u64(&r);
			if (rd_ok(&r) && i > 0 && m->bh[i] != m->bh[i - 1] + 1) {
				r.off = at;
				rd_fail(&r, "block heights not consecutive");
				break;
			}
			m->blk[i] = rd_blob32(&r, &m->blk_len[i], p->cfg.max_block_bytes);
			m->cert[i] = rd_blob32(&r, &m->cert_len[i], CERT_BLOB_MAX);
		}
		break;
	default:
		*why = "unknown message type";
		return -1;
	}
	read_sig(&r, m);
	rd_end(&r);
	if (!rd_ok(&r)) {
		*why = r.err;
		msg_free(m);
		return -1;
	}
	return 0;
}

static void msg_free(msg_t *m)
{
	free(m->vc);
	free(m->vc_len);
	free(m->bh);
	free(m->blk);
	free(m->blk_len);
	free(m->cert);
	free(m->cert_len);
	if (m->vcm) {
		vc_clear(m->vcm);
		free(m->vcm);
	}
	m->vc = NULL;
	m->vc_len = NULL;
	m->bh = NULL;
	m->blk = NULL;
	m->blk_len = NULL;
	m->cert = NULL;
	m->cert_len = NULL;
	m->vcm = NULL;
}

int pbft_msg_peek(const uint8_t *msg, size_t len, pbft_msg_info_t *out)
{
	rd_t r;
	memset(out, 0, sizeof(*out));
	rd_init(&r, msg, len);
	out->type = rd_u8(&r);
	out->sender = rd_u16(&r);
	switch (out->type) {
	case PBFT_MSG_PRE_PREPARE:
		out->view = rd_u64(&r);
		out->height = rd_u64(&r);
		break;
	case PBFT_MSG_PREPARE:
	case PBFT_MSG_COMMIT:
		out->view = rd_u64(&r);
		out->height = rd_u64(&r);
		rd_copy(&r, out->hash, HB);
		break;
	case PBFT_MSG_CHECKPOINT:
		out->height = rd_u64(&r);
		rd_copy(&r, out->hash, HB);
		break;
	case PBFT_MSG_VIEW_CHANGE:
	case PBFT_MSG_NEW_VIEW:
		out->view = rd_u64(&r);
		break;
	case PBFT_MSG_FETCH:
		out->height = rd_u64(&r);
		rd_u64(&r);
		out->view = rd_u64(&r);
		break;
	case PBFT_MSG_BLOCKS:
		break;
	default:
		return -1;
	}
	return rd_ok(&r) ? 0 : -1;
}

/* ---------------------------------------------------------------- verification */

static int verify_msg(pbft_t *p, const msg_t *m, const uint8_t *data)
{
	size_t sl;
	uint8_t *sb;
	if (m->type == PBFT_MSG_COMMIT)
		sb = commit_signed_bytes(p->cfg.chain_id, m->view, m->height, m->hash, &sl);
	else
		sb = signed_bytes(p, data, m->signed_len, &sl);
	int r = p->cb.verify(p->cb.ctx, m->sender, sb, sl, m->sig, m->sig_len);
	free(sb);
	return r == 0 ? 0 : -1;
}

/* A commit certificate for (height, hash): a quorum of distinct members'
 * valid signatures, all of them valid. */
static int cert_check(pbft_t *p, const cert_t *c, uint64_t height, const uint8_t hash[HB])
{
	size_t len;
	int ret = -1;
	uint8_t *msg = commit_signed_bytes(p->cfg.chain_id, c->view, height, hash, &len);
	if (c->n < p->q)
		goto out;
	for (uint16_t i = 0; i < c->n; i++) {
		const cert_sig_t *s = &c->sigs[i];
		if (s->node >= p->cfg.n || (i > 0 && s->node <= c->sigs[i - 1].node))
			goto out;
		if (p->cb.verify(p->cb.ctx, s->node, msg, len, s->sig, s->sig_len) != 0)
			goto out;
	}
	ret = 0;
out:
	free(msg);
	return ret;
}

/* Verifies a parsed VIEW-CHANGE: its own signature, its checkpoint's
 * certificate and each prepared certificate (a quorum of valid PREPARE
 * signatures).  Returns 0 or the drop reason. */
static int vc_verify(pbft_t *p, vc_t *v)
{
	if (v->verified)
		return 0;
	size_t sl;
	uint8_t *sb = signed_bytes(p, v->raw, v->signed_len, &sl);
	const uint8_t *sig = v->raw + v->signed_len + 2;
	size_t siglen = v->raw_len - v->signed_len - 2;
	int r = p->cb.verify(p->cb.ctx, v->sender, sb, sl, sig, siglen);
	free(sb);
	if (r != 0)
		return PBFT_DROP_BAD_SIG;
	if (v->c_height > 0 && cert_check(p, &v->c_cert, v->c_height, v->c_hash) != 0)
		return PBFT_DROP_BAD_SIG;
	for (uint16_t i = 0; i < v->count; i++) {
		const pentry_t *e = &v->e[i];
		if (e->nsig < p->q)
			return PBFT_DROP_INVALID;
		for (uint16_t j = 0; j < e->nsig; j++) {
			buf_t b;
			prepare_body(&b, e->sigs[j].node, e->view, e->height, e->hash);
			sb = signed_bytes(p, b.data, b.len, &sl);
			buf_free(&b);
			r = p->cb.verify(p->cb.ctx, e->sigs[j].node, sb, sl, e->sigs[j].sig, e->sigs[j].len);
			free(sb);
			if (r != 0)
				return PBFT_DROP_BAD_SIG;
		}
	}
	v->verified = 1;
	return 0;
}

/* ---------------------------------------------------------------- state transfer */

/* A BLOCKS reply stops adding blocks past this many bytes (at least one
 * block goes): the receiver checks and applies a reply in one turn of
 * its event loop, which should stay well under a second. */
#define PBFT_REPLY_SOFT_BYTES (8u << 20)

/* How far a probing FETCH asks: as many blocks as one reply may carry
 * (a replica that is far behind then gets them in few round trips). */
static uint64_t probe_upto(const pbft_t *p)
{
	unsigned k = p->cfg.fetch_max_blocks > p->L ? p->cfg.fetch_max_blocks : p->L;
	return p->delivered + k;
}

static void send_fetch(pbft_t *p, uint16_t to, uint64_t from, uint64_t upto)
{
	buf_t b;
	body_head(&b, p, PBFT_MSG_FETCH);
	buf_u64(&b, from);
	buf_u64(&b, upto);
	buf_u64(&b, p->view);
	buf_u8(&b, (uint8_t)(p->nv_known && !p->in_vc ? 1 : 0));
	if (seal(p, &b) == 0)
		out_send(p, to, b.data, b.len);
	buf_free(&b);
}

static void maybe_fetch(pbft_t *p)
{
	if (p->cfg.n == 1 || p->fetch_target <= p->delivered) {
		p->fetch_target = 0;
		p->fetch_attempts = 0;
		return;
	}
	if (p->now < p->fetch_next_at)
		return;
	if (p->fetch_attempts >= 2u * p->cfg.n) {
		log_info(MOD, "state transfer to %" PRIu64 " gave up after %u attempts", p->fetch_target,
			 p->fetch_attempts);
		p->fetch_target = 0;
		p->fetch_attempts = 0;
		return;
	}
	if (p->fetch_peer < 0 || p->fetch_peer >= p->cfg.n || p->fetch_peer == p->cfg.self)
		p->fetch_peer = (p->cfg.self + 1) % p->cfg.n;
	send_fetch(p, (uint16_t)p->fetch_peer, p->delivered + 1, p->fetch_target);
	p->fetch_next_at = p->now + p->cfg.fetch_retry_ms;
	p->fetch_attempts++;
	p->fetch_peer = (p->fetch_peer + 1) % p->cfg.n;
	if (p->fetch_peer == p->cfg.self)
		p->fetch_peer = (p->fetch_peer + 1) % p->cfg.n;
}

static void trigger_fetch(pbft_t *p, uint64_t target, int peer)
{
	if (p->cfg.n == 1 || target <= p->delivered)
		return;
	if (target > p->fetch_target) {
		if (p->fetch_target <= p->delivered)
			p->fetch_attempts = 0;
		p->fetch_target = target;
		if (peer >= 0 && peer < p->cfg.n && peer != p->cfg.self)
			p->fetch_peer = peer;
	}
	maybe_fetch(p);
}

/* Sends our NEW-VIEW to a peer that is in an older view (or in ours
 * without its NEW-VIEW), at most once per retransmit interval. */
static void view_sync(pbft_t *p, uint16_t peer, uint64_t peer_view, int peer_has_nv)
{
	if (!p->nv_msg || peer == p->cfg.self || peer >= p->cfg.n)
		return;
	if (!(p->nv_msg_view > peer_view || (p->nv_msg_view == peer_view && !peer_has_nv)))
		return;
	if (p->nv_sent_to[peer] && p->now < p->nv_sent_to[peer] + p->cfg.retransmit_ms / 2)
		return;
	p->nv_sent_to[peer] = p->now ? p->now : 1;
	out_send(p, peer, p->nv_msg, p->nv_len);
}

/* ---------------------------------------------------------------- speculation and delivery */

static void spec_abort(pbft_t *p, uint64_t from)
{
	if (p->spec_tip >= from) {
		p->cb.abort_from(p->cb.ctx, from);
		p->spec_tip = from - 1;
	}
	for (uint64_t h = from; h <= p->delivered + p->L; h++) {
		slot_t *s = slot_peek(p, h);
		if (s && s->pp_state == PP_ACCEPTED)
			s->pp_state = PP_PENDING;
	}
	if (p->acc_tip >= from)
		p->acc_tip = from - 1;
	if (p->com_tip >= from)
		p->com_tip = from - 1;
}

static void send_checkpoint(pbft_t *p)
{
	buf_t b;
	body_head(&b, p, PBFT_MSG_CHECKPOINT);
	buf_u64(&b, p->delivered);
	buf_put(&b, p->delivered_hash, HB);
	if (seal(p, &b) == 0)
		out_bcast(p, b.data, b.len);
	buf_free(&b);
	ckpt_t *c = &p->ckpt[p->cfg.self];
	c->have = 1;
	c->height = p->delivered;
	memcpy(c->hash, p->delivered_hash, HB);
	if (p->q == 1 && p->delivered > p->stable_ckpt)
		p->stable_ckpt = p->delivered;
}

static int do_deliver(pbft_t *p, uint64_t h, blk_t *blk, const cert_t *cert)
{
	slot_t *s = slot_peek(p, h);
	if (p->spec_tip >= h &&
	    !(s && s->pp_state == PP_ACCEPTED && s->pp && memcmp(s->pp->hash, blk->hash, HB) == 0))
		spec_abort(p, h);
	if (p->cb.deliver(p->cb.ctx, h, blk->data, blk->len, cert) != 0) {
		log_error(MOD, "deliver of height %" PRIu64 " failed; consensus stopped", h);
		p->failed = 1;
		return -1;
	}
	int had_keys = s && s->persisted;
	p->delivered = h;
	memcpy(p->delivered_hash, blk->hash, HB);
	cert_copy(&p->delivered_cert, cert);
	if (s)
		slot_clear(s, p->cfg.n);
	if (had_keys)
		unpersist_height(p, h);
	if (p->spec_tip < h)
		p->spec_tip = h;
	if (p->acc_tip < h)
		p->acc_tip = h;
	if (p->com_tip < h)
		p->com_tip = h;
	if (p->pp_top < h)
		p->pp_top = h;
	char hx[17];
	hex8(hx, blk->hash);
	log_debug(MOD, "delivered height=%" PRIu64 " hash=%s cert_view=%" PRIu64 " sigs=%u", h, hx,
		  cert->view, cert->n);
	if (p->cfg.checkpoint_interval && h % p->cfg.checkpoint_interval == 0)
		send_checkpoint(p);
	if (!p->in_vc)
		p->streak = 0;
	p->progress_deadline = 0;   /* re-armed from now by pump if work remains */
	return 0;
}

/* ---------------------------------------------------------------- votes */

static int count_prepares(const pbft_t *p, const slot_t *s, const uint8_t hash[HB])
{
	int c = 0;
	for (unsigned j = 0; j < p->cfg.n; j++)
		if (s->prep[j].have && memcmp(s->prep[j].hash, hash, HB) == 0)
			c++;
	return c;
}

/* Commit certificate: a quorum of COMMITs for one (view, hash). */
static void check_cert(pbft_t *p, slot_t *s, uint64_t v, const uint8_t hash[HB])
{
	if (s->committed)
		return;
	unsigned c = 0;
	for (unsigned j = 0; j < p->cfg.n; j++)
		if (s->com[j].have && s->com[j].view == v && memcmp(s->com[j].hash, hash, HB) == 0)
			c++;
	if (c < p->q)
		return;
	s->committed = 1;
	memcpy(s->c_hash, hash, HB);
	s->cert.view = v;
	s->cert.n = 0;
	s->cert.sigs = xcalloc(c, sizeof(cert_sig_t));
	for (unsigned j = 0; j < p->cfg.n; j++) {
		const vote_t *x = &s->com[j];
		if (x->have && x->view == v && memcmp(x->hash, hash, HB) == 0) {
			cert_sig_t *cs = &s->cert.sigs[s->cert.n++];
			cs->node = (uint16_t)j;
			cs->sig_len = x->sig_len;
			memcpy(cs->sig, x->sig, x->sig_len);
		}
	}
}

static void record_vote(vote_t *x, uint64_t v, const uint8_t hash[HB], const uint8_t *sig, size_t sl)
{
	x->have = 1;
	x->view = v;
	memcpy(x->hash, hash, HB);
	x->sig_len = (uint16_t)sl;
	memcpy(x->sig, sig, sl);
}

/* Builds, signs and broadcasts our PREPARE for slot s (already persisted). */
static int send_prepare(pbft_t *p, slot_t *s)
{
	buf_t b;
	prepare_body(&b, p->cfg.self, p->view, s->height, s->pp->hash);
	size_t body_len = b.len;
	if (seal(p, &b) != 0) {
		buf_free(&b);
		return -1;
	}
	record_vote(&s->prep[p->cfg.self], p->view, s->pp->hash, b.data + body_len + 2,
		    b.len - body_len - 2);
	free(s->prep_msg);
	s->prep_msg = buf_steal(&b, &s->prep_msg_len);
	out_bcast(p, s->prep_msg, s->prep_msg_len);
	return 0;
}

static int send_commit(pbft_t *p, slot_t *s)
{
	size_t sl;
	uint8_t *sb = commit_signed_bytes(p->cfg.chain_id, p->view, s->height, s->pc_hash, &sl);
	buf_t b;
	body_head(&b, p, PBFT_MSG_COMMIT);
	buf_u64(&b, p->view);
	buf_u64(&b, s->height);
	buf_put(&b, s->pc_hash, HB);
	size_t body_len = b.len;
	int r = append_sig(p, &b, sb, sl);
	free(sb);
	if (r != 0) {
		buf_free(&b);
		return -1;
	}
	vote_t *x = &s->com[p->cfg.self];
	if (!x->have || x->view <= p->view)
		record_vote(x, p->view, s->pc_hash, b.data + body_len + 2, b.len - body_len - 2);
	free(s->com_msg);
	s->com_msg = buf_steal(&b, &s->com_msg_len);
	out_bcast(p, s->com_msg, s->com_msg_len);
	check_cert(p, s, p->view, s->pc_hash);
	return 0;
}

/* ---------------------------------------------------------------- the pump */

static const uint8_t *hash_below(pbft_t *p, uint64_t h)
{
	if (h - 1 == p->delivered)
		return p->delivered_hash;
	slot_t *s = slot_peek(p, h - 1);
	if (s && s->pp_state == PP_ACCEPTED && s->pp)
		return s->pp->hash;
	return NULL;
}

/* A height that is committed for sure: f+1 members (one of them at least
 * correct) sent verified messages for heights >= H beyond our window, and
 * a correct replica only sends messages for heights within its own log
 * window, i.e. it has delivered H - L.  One faulty member's claims alone
 * cannot move it.  0 when nothing is known. */
static uint64_t committed_floor(const pbft_t *p)
{
	uint64_t top[PBFT_MAX_NODES];
	unsigned k = 0, need = pbft_f(p->cfg.n) + 1;
	for (uint16_t i = 0; i < p->cfg.n; i++)
		if (i != p->cfg.self && p->ahead[i] > p->delivered + p->L)
			top[k++] = p->ahead[i];
	if (k < need)
		return 0;
	return kth_largest(top, k, need) - p->L;
}

/* Accepts the next pre-prepare in height order.  1 when progress. */
static int step_accept(pbft_t *p)
{
	uint64_t h = p->acc_tip + 1;
	if (p->in_vc || !p->nv_known || h > p->delivered + p->L)
		return 0;
	slot_t *s = slot_get(p, h);
	if (!s)
		return 0;
	if (h <= p->nv_top) {
		if (h <= p->nv_base)
			return 0;       /* waiting for state transfer up to the new view's base */
		blk_t *nb = p->nv_chain[h - p->nv_base - 1];
		if (!(s->pp_state != PP_NONE && s->pp_view == p->view && s->pp == nb)) {
			blk_set(&s->pp, nb);
			s->pp_view = p->view;
			s->pp_state = PP_PENDING;
		}
	}
	if (s->pp_state != PP_PENDING || s->pp_view != p->view)
		return 0;
	/* At or below a height that is surely committed already: the block
	 * will come by state transfer with its certificate, which costs a
	 * few signature checks, where accepting the proposal costs one per tx
	 * (and, right after a transfer, a copy of the state).  A replica back
	 * from a long absence gets many such proposals at once, queued for
	 * it by the leader's link while it was away. */
	if (h <= committed_floor(p))
		return 0;
	char hx[17];
	hex8(hx, s->pp->hash);
	const uint8_t *below = hash_below(p, h);
	if (!below)
		return 0;
	if (memcmp(s->pp->prev, below, HB) != 0) {
		log_warn(MOD, "pre-prepare view=%" PRIu64 " height=%" PRIu64 " hash=%s does not extend our chain",
			 p->view, h, hx);
		s->pp_state = PP_REJECTED;
		p->st.dropped[PBFT_DROP_INVALID]++;
		return 0;
	}
	if (s->my_prep && s->my_prep_view == p->view && memcmp(s->my_prep_hash, s->pp->hash, HB) != 0) {
		/* we voted for another block at (view, h) before a restart */
		log_warn(MOD, "pre-prepare view=%" PRIu64 " height=%" PRIu64 " hash=%s conflicts with our vote",
			 p->view, h, hx);
		s->pp_state = PP_REJECTED;
		p->st.dropped[PBFT_DROP_EQUIVOCATION]++;
		p->st.equivocations++;
		start_vc(p, p->view + 1, "leader equivocation across our restart");
		return 0;
	}
	if (p->cb.validate_block(p->cb.ctx, h, p->view, s->pp->data, s->pp->len) != 0) {
		log_warn(MOD, "block refused view=%" PRIu64 " height=%" PRIu64 " hash=%s", p->view, h, hx);
		s->pp_state = PP_REJECTED;
		p->st.dropped[PBFT_DROP_INVALID]++;
		return 0;
	}
	p->spec_tip = h;
	int voted = s->my_prep && s->my_prep_view == p->view;
	if (!voted) {
		s->my_prep = 1;
		s->my_prep_view = p->view;
		memcpy(s->my_prep_hash, s->pp->hash, HB);
	}
	int on_disk = voted && s->persisted_pp && memcmp(s->persisted_pp->hash, s->pp->hash, HB) == 0;
	if (!on_disk && persist_slot(p, s, s->pp) != 0) {
		if (!voted)
			s->my_prep = 0;   /* nothing left us; retried at the next event */
		spec_abort(p, h);
		return 0;
	}
	s->pp_state = PP_ACCEPTED;
	p->acc_tip = h;
	if (s->pp_msg && !s->pp_msg_sent) {
		out_bcast(p, s->pp_msg, s->pp_msg_len);
		s->pp_msg_sent = 1;
	}
	send_prepare(p, s);
	log_debug(MOD, "prepared-vote view=%" PRIu64 " height=%" PRIu64 " hash=%s", p->view, h, hx);
	return 1;
}

/* Marks slots prepared (quorum of PREPAREs for the accepted block). */
static void update_prepared(pbft_t *p, slot_t *s)
{
	if (s->pp_state != PP_ACCEPTED || s->pp_view != p->view || s->votes_view != p->view)
		return;
	if (s->pc && s->pc_view == p->view)
		return;
	if (count_prepares(p, s, s->pp->hash) < (int)p->q)
		return;
	s->pc = 1;
	s->pc_view = p->view;
	memcpy(s->pc_hash, s->pp->hash, HB);
	blk_set(&s->pc_blk, s->pp);
	s->pc_n = 0;
	for (unsigned j = 0; j < p->cfg.n; j++) {
		const vote_t *x = &s->prep[j];
		if (x->have && memcmp(x->hash, s->pp->hash, HB) == 0) {
			psig_t *ps = &s->pc_sigs[s->pc_n++];
			ps->node = (uint16_t)j;
			ps->len = x->sig_len;
			memcpy(ps->sig, x->sig, x->sig_len);
		}
	}
}

/* Sends COMMITs in height order (never above a height not yet committed
 * to in this view).  1 when progress. */
static int step_commit(pbft_t *p)
{
	uint64_t h = p->com_tip + 1;
	if (p->in_vc || h > p->acc_tip)
		return 0;
	slot_t *s = slot_peek(p, h);
	if (!s)
		return 0;
	update_prepared(p, s);
	if (!(s->pc && s->pc_view == p->view && s->pp_state == PP_ACCEPTED &&
	      memcmp(s->pc_hash, s->pp->hash, HB) == 0))
		return 0;
	if (!(s->my_com && s->my_com_view == p->view)) {
		int had = s->my_com;
		uint64_t ov = s->my_com_view;
		uint8_t oh[HB];
		memcpy(oh, s->my_com_hash, HB);
		s->my_com = 1;
		s->my_com_view = p->view;
		memcpy(s->my_com_hash, s->pc_hash, HB);
		if (persist_slot(p, s, NULL) != 0) {
			s->my_com = had;
			s->my_com_view = ov;
			memcpy(s->my_com_hash, oh, HB);
			return 0;
		}
		send_commit(p, s);
	} else if (!s->com_msg) {
		send_commit(p, s);   /* restored: the vote is on disk, re-send it */
	}
	p->com_tip = h;
	return 1;
}

static int step_deliver(pbft_t *p)
{
	uint64_t h = p->delivered + 1;
	slot_t *s = slot_peek(p, h);
	if (!s || !s->committed)
		return 0;
	blk_t *b = NULL;
	if (s->pp && memcmp(s->pp->hash, s->c_hash, HB) == 0)
		b = s->pp;
	else if (s->pc_blk && memcmp(s->pc_blk->hash, s->c_hash, HB) == 0)
		b = s->pc_blk;
	else if (p->nv_known && h > p->nv_base && h <= p->nv_top &&
		 memcmp(p->nv_chain[h - p->nv_base - 1]->hash, s->c_hash, HB) == 0)
		b = p->nv_chain[h - p->nv_base - 1];
	if (!b || memcmp(b->prev, p->delivered_hash, HB) != 0) {
		/* certified but we lack the block: ask a signer */
		trigger_fetch(p, h, s->cert.n ? s->cert.sigs[h % s->cert.n].node : -1);
		return 0;
	}
	cert_t cert;
	memset(&cert, 0, sizeof(cert));
	cert_copy(&cert, &s->cert);
	blk_ref(b);
	int r = do_deliver(p, h, b, &cert);
	blk_unref(b);
	cert_clear(&cert);
	return r == 0;
}

static int make_preprepare(pbft_t *p, slot_t *s)
{
	buf_t b;
	body_head(&b, p, PBFT_MSG_PRE_PREPARE);
	buf_u64(&b, p->view);
	buf_u64(&b, s->height);
	buf_blob32(&b, s->pp->data, s->pp->len);
	if (seal(p, &b) != 0) {
		buf_free(&b);
		return -1;
	}
	free(s->pp_msg);
	s->pp_msg = buf_steal(&b, &s->pp_msg_len);
	s->pp_msg_sent = 0;
	return 0;
}

static int step_propose(pbft_t *p)
{
	if (p->in_vc || !p->nv_known || leader_of(p, p->view) != p->cfg.self)
		return 0;
	uint64_t top = p->pp_top > p->delivered ? p->pp_top : p->delivered;
	if (p->acc_tip > top)
		top = p->acc_tip;   /* our own restored proposals */
	uint64_t h = top + 1;
	if (p->acc_tip != top || h > p->delivered + p->cfg.window || h > p->delivered + p->L)
		return 0;
	slot_t *s = slot_get(p, h);
	if (!s || (s->pp_state != PP_NONE && s->pp_view == p->view))
		return 0;
	if (!p->cb.has_pending(p->cb.ctx))
		return 0;
	const uint8_t *prev = hash_below(p, h);
	if (!prev)
		return 0;
	uint8_t *bytes = NULL;
	size_t len = 0;
	int r = p->cb.build_block(p->cb.ctx, h, prev, p->view, &bytes, &len);
	if (r != 0) {
		if (r < 0)
			log_warn(MOD, "build_block failed height=%" PRIu64, h);
		free(bytes);
		return 0;
	}
	/* built and sealed here: its roots are the ones just computed */
	blk_t *b = blk_new(p, bytes, len, h, 0);
	free(bytes);
	if (!b || memcmp(b->prev, prev, HB) != 0) {
		log_error(MOD, "build_block returned a block that is not height %" PRIu64 " on our tip", h);
		blk_unref(b);
		return 0;
	}
	blk_set(&s->pp, b);
	blk_unref(b);
	s->pp_view = p->view;
	s->pp_state = PP_PENDING;
	if (make_preprepare(p, s) != 0) {
		blk_set(&s->pp, NULL);
		s->pp_state = PP_NONE;
		return 0;
	}
	p->pp_top = h;
	p->st.proposed++;
	return 1;
}

static int work_outstanding(pbft_t *p)
{
	if (p->in_vc)
		return 0;
	if (p->acc_tip > p->delivered || p->nv_top > p->delivered)
		return 1;
	for (uint64_t h = p->delivered + 1; h <= p->delivered + p->L; h++) {
		slot_t *s = slot_peek(p, h);
		if (s && ((s->pp_state == PP_PENDING && s->pp_view == p->view) || s->committed))
			return 1;
	}
	return p->cb.has_pending(p->cb.ctx) ? 1 : 0;
}

/* Fetches up to the highest height in the window with a commit
 * certificate, if it is above the next one.  1 when there is one. */
static int fetch_to_certified(pbft_t *p)
{
	for (uint64_t h = p->delivered + p->L; h > p->delivered + 1; h--) {
		slot_t *s = slot_peek(p, h);
		if (s && s->committed) {
			trigger_fetch(p, h, s->cert.n ? s->cert.sigs[h % s->cert.n].node : -1);
			return 1;
		}
	}
	return 0;
}

static void pump(pbft_t *p)
{
	if (p->failed || !p->started)
		return;
	for (int guard = 0; guard < 1000000; guard++) {
		int ch = 0;
		for (uint64_t h = p->com_tip + 1; !p->in_vc && h <= p->acc_tip; h++) {
			slot_t *s = slot_peek(p, h);
			if (s)
				update_prepared(p, s);
		}
		ch |= step_accept(p);
		if (p->failed)
			return;
		ch |= step_commit(p);
		ch |= step_deliver(p);
		if (p->failed)
			return;
		ch |= step_propose(p);
		if (!ch)
			break;
	}
	/* a certificate above a height of which we hold no block at all (its
	 * messages passed us by): fetch up to it now.  Gaps we are still
	 * voting on are left to the stuck check in retransmit(). */
	slot_t *next = slot_peek(p, p->delivered + 1);
	if (!next || (!next->pp && !next->pc_blk))
		fetch_to_certified(p);
	if (p->in_vc) {
		p->progress_deadline = 0;
	} else if (work_outstanding(p)) {
		if (!p->progress_deadline)
			p->progress_deadline = p->now + cur_timeout(p);
	} else {
		p->progress_deadline = 0;
	}
	maybe_fetch(p);
}

/* ---------------------------------------------------------------- view change */

static void build_own_vc(pbft_t *p)
{
	buf_t b;
	body_head(&b, p, PBFT_MSG_VIEW_CHANGE);
	buf_u64(&b, p->view);
	buf_u64(&b, p->delivered);
	buf_put(&b, p->delivered_hash, HB);
	if (p->delivered > 0) {
		buf_t cb;
		buf_init(&cb);
		cert_encode(&cb, &p->delivered_cert);
		buf_blob32(&b, cb.data, cb.len);
		buf_free(&cb);
	} else {
		buf_u32(&b, 0);
	}
	uint16_t cnt = 0;
	for (uint64_t h = p->delivered + 1; h <= p->delivered + p->L; h++) {
		slot_t *s = slot_peek(p, h);
		if (s && s->pc && s->pc_blk && s->pc_view < p->view)
			cnt++;
	}
	buf_u16(&b, cnt);
	for (uint64_t h = p->delivered + 1; h <= p->delivered + p->L; h++) {
		slot_t *s = slot_peek(p, h);
		if (!(s && s->pc && s->pc_blk && s->pc_view < p->view))
			continue;
		buf_u64(&b, s->pc_view);
		buf_u64(&b, h);
		buf_put(&b, s->pc_hash, HB);
		buf_u16(&b, s->pc_n);
		for (uint16_t i = 0; i < s->pc_n; i++) {
			buf_u16(&b, s->pc_sigs[i].node);
			buf_u16(&b, s->pc_sigs[i].len);
			buf_put(&b, s->pc_sigs[i].sig, s->pc_sigs[i].len);
		}
	}
	if (seal(p, &b) != 0) {
		buf_free(&b);
		return;
	}
	for (uint64_t h = p->delivered + 1; h <= p->delivered + p->L; h++) {
		slot_t *s = slot_peek(p, h);
		if (s && s->pc && s->pc_blk && s->pc_view < p->view)
			buf_blob32(&b, s->pc_blk->data, s->pc_blk->len);
	}
	vc_t v;
	const char *why = NULL;
	if (vc_parse(p, b.data, b.len, 1, &v, &why) != 0) {
		log_error(MOD, "own view-change does not parse: %s", why ? why : "?");
		buf_free(&b);
		return;
	}
	v.verified = 1;
	vc_clear(&p->vcs[p->cfg.self]);
	p->vcs[p->cfg.self] = v;
	out_bcast(p, b.data, b.len);
	buf_free(&b);
}

/* Re-sends our VIEW-CHANGE (with attachments) from the stored copy. */
static void resend_own_vc(pbft_t *p)
{
	vc_t *v = &p->vcs[p->cfg.self];
	if (!v->have || v->view != p->view)
		return;
	buf_t b;
	buf_init(&b);
	buf_put(&b, v->raw, v->raw_len);
	for (uint16_t i = 0; i < v->count; i++)
		buf_blob32(&b, v->e[i].blk->data, v->e[i].blk->len);
	out_bcast(p, b.data, b.len);
	buf_free(&b);
}

static void free_nv_chain(pbft_t *p)
{
	if (p->nv_chain) {
		for (uint64_t i = 0; i < p->nv_top - p->nv_base; i++)
			blk_unref(p->nv_chain[i]);
		free(p->nv_chain);
	}
	p->nv_chain = NULL;
	p->nv_base = p->nv_top = 0;
}

static void start_vc(pbft_t *p, uint64_t w, const char *why)
{
	if (w <= p->view)
		return;
	if (persist_view(p, w, 1) != 0)
		return;
	log_info(MOD, "view change to view=%" PRIu64 " from view=%" PRIu64 " reason=\"%s\" delivered=%" PRIu64,
		 w, p->view, why, p->delivered);
	p->view = w;
	p->in_vc = 1;
	p->streak++;
	p->st.view_changes++;
	spec_abort(p, p->delivered + 1);
	for (uint64_t h = p->delivered + 1; h <= p->delivered + p->L; h++) {
		slot_t *s = slot_peek(p, h);
		if (s)
			slot_new_view(s, p->cfg.n, w);
	}
	p->acc_tip = p->com_tip = p->delivered;
	p->nv_known = 0;
	free_nv_chain(p);
	p->nv_sent = 0;
	p->vc_deadline = 0;
	p->progress_deadline = 0;
	p->retransmit_at = p->now + p->cfg.retransmit_ms / 2;
	build_own_vc(p);
	vc_progress(p);
}

/* O-set computation shared by the new leader and every replica.  picks[i]
 * is the candidate for height *min_s + 1 + i. */
static void compute_picks(pbft_t *p, vc_t *const *v, size_t nv, uint64_t *min_s, uint8_t base[HB],
			  int *base_sender, pick_t picks[PBFT_MAX_LOG_WINDOW])
{
	*min_s = 0;
	memcpy(base, p->cfg.chain_id, HB);
	*base_sender = -1;
	for (size_t i = 0; i < nv; i++) {
		if (*base_sender < 0 || v[i]->c_height > *min_s) {
			*min_s = v[i]->c_height;
			memcpy(base, v[i]->c_hash, HB);
			*base_sender = v[i]->sender;
		}
	}
	memset(picks, 0, PBFT_MAX_LOG_WINDOW * sizeof(pick_t));
	for (size_t i = 0; i < nv; i++) {
		for (uint16_t k = 0; k < v[i]->count; k++) {
			const pentry_t *e = &v[i]->e[k];
			if (e->height <= *min_s || e->height > *min_s + p->L)
				continue;
			pick_t *pk = &picks[e->height - *min_s - 1];
			if (!pk->have || e->view > pk->view) {
				pk->have = 1;
				pk->view = e->view;
				memcpy(pk->hash, e->hash, HB);
				pk->blk = e->blk;
			} else if (e->view == pk->view && !pk->blk && e->blk &&
				   memcmp(e->hash, pk->hash, HB) == 0) {
				pk->blk = e->blk;
			}
		}
	}
}

/* Longest prefix of picks chaining onto base; returns its length. */
static size_t chain_picks(const pick_t *picks, const uint8_t base[HB])
{
	const uint8_t *prev = base;
	size_t i;
	for (i = 0; i < PBFT_MAX_LOG_WINDOW; i++) {
		if (!picks[i].have || !picks[i].blk || memcmp(picks[i].blk->prev, prev, HB) != 0)
			break;
		prev = picks[i].blk->hash;
	}
	return i;
}

/* Enters view v (or, same_view, just learns its NEW-VIEW after a restart). */
static void enter_view(pbft_t *p, uint64_t v, int same_view, uint64_t min_s, const uint8_t base[HB],
		       int base_sender, const pick_t *picks, size_t chain_len, const uint8_t *nv,
		       size_t nv_len)
{
	if (!same_view) {
		if (persist_view(p, v, 0) != 0)
			return;
		spec_abort(p, p->delivered + 1);
		for (uint64_t h = p->delivered + 1; h <= p->delivered + p->L; h++) {
			slot_t *s = slot_peek(p, h);
			if (s)
				slot_new_view(s, p->cfg.n, v);
		}
		p->view = v;
		p->in_vc = 0;
		p->acc_tip = p->com_tip = p->delivered;
	}
	free_nv_chain(p);
	p->nv_known = 1;
	p->nv_base = min_s;
	p->nv_top = min_s + chain_len;
	if (chain_len) {
		p->nv_chain = xcalloc(chain_len, sizeof(blk_t *));
		for (size_t i = 0; i < chain_len; i++)
			p->nv_chain[i] = blk_ref(picks[i].blk);
	}
	/* pre-prepares the leader sent before we had its NEW-VIEW, at heights
	 * the NEW-VIEW fixes, are void */
	for (uint64_t h = p->delivered + 1; h <= p->nv_top && h <= p->delivered + p->L; h++) {
		slot_t *s = slot_peek(p, h);
		if (s && s->pp_state == PP_PENDING && s->pp_view == v &&
		    !(h > min_s && s->pp == p->nv_chain[h - min_s - 1])) {
			blk_set(&s->pp, NULL);
			s->pp_state = PP_NONE;
		}
	}
	if (!same_view || p->pp_top < p->nv_top)
		p->pp_top = p->nv_top;
	if (p->pp_top < p->delivered)
		p->pp_top = p->delivered;
	if (min_s > p->delivered)
		trigger_fetch(p, min_s, base_sender);
	free(p->nv_msg);
	p->nv_msg = xmalloc(nv_len);
	memcpy(p->nv_msg, nv, nv_len);
	p->nv_len = nv_len;
	p->nv_msg_view = v;
	memset(p->nv_sent_to, 0, p->cfg.n * sizeof(*p->nv_sent_to));
	for (unsigned j = 0; j < p->cfg.n; j++)
		if (p->vcs[j].have && p->vcs[j].view <= v)
			vc_clear(&p->vcs[j]);
	p->nv_sent = 0;
	p->vc_deadline = 0;
	p->progress_deadline = 0;
	p->st.new_views++;
	char hx[17];
	hex8(hx, base);
	log_info(MOD, "entered view=%" PRIu64 " leader=%u min_s=%" PRIu64 " base=%s reproposed=%zu delivered=%" PRIu64 "%s",
		 v, leader_of(p, v), min_s, hx, chain_len, p->delivered, same_view ? " (resync)" : "");
}

static void send_new_view(pbft_t *p)
{
	vc_t *sel[PBFT_MAX_NODES] = { 0 };
	size_t nsel = 0, nall = 0, first = 0;
	/* our own first, then the others by lowest checkpoint (then index):
	 * exactly a quorum.  Its highest checkpoint becomes min_s, which the
	 * replicas below it must fetch; a checkpoint that only one other
	 * member reports may be a certificate that member alone holds (it
	 * kept its COMMITs to itself) and will not serve, so such a quorum is
	 * sent only once every member's VIEW-CHANGE is in or half the
	 * new-view timeout is gone (any quorum is valid; this picks one the
	 * others can reach) */
	const vc_t *own = &p->vcs[p->cfg.self];
	int have_own = own->have && own->view == p->view;
	if (have_own)
		sel[nall++] = &p->vcs[p->cfg.self];
	first = nall;
	for (unsigned j = 0; j < p->cfg.n; j++)
		if (j != p->cfg.self && p->vcs[j].have && p->vcs[j].view == p->view)
			sel[nall++] = &p->vcs[j];
	if (nall < p->q)
		return;
	for (size_t i = first + 1; i < nall; i++)   /* stable insertion sort by c_height */
		for (size_t k = i; k > first && sel[k - 1]->c_height > sel[k]->c_height; k--) {
			vc_t *t = sel[k];
			sel[k] = sel[k - 1];
			sel[k - 1] = t;
		}
	nsel = p->q;
	uint64_t top = 0;
	for (size_t i = 0; i < nsel; i++)
		if (sel[i]->c_height > top)
			top = sel[i]->c_height;
	unsigned reach = 0;
	for (size_t i = 0; i < nall; i++)
		reach += sel[i]->c_height >= top ? 1u : 0u;
	if (!(have_own && own->c_height >= top) && reach < p->f + 1 && nall < p->cfg.n &&
	    !(p->vc_deadline && p->now + cur_timeout(p) / 2 >= p->vc_deadline))
		return;
	pick_t picks[PBFT_MAX_LOG_WINDOW];
	uint64_t min_s;
	uint8_t base[HB];
	int base_sender;
	compute_picks(p, sel, nsel, &min_s, base, &base_sender, picks);
	buf_t b;
	body_head(&b, p, PBFT_MSG_NEW_VIEW);
	buf_u64(&b, p->view);
	buf_u16(&b, (uint16_t)nsel);
	for (size_t i = 0; i < nsel; i++)
		buf_blob32(&b, sel[i]->raw, sel[i]->raw_len);
	uint16_t nb = 0;
	for (unsigned i = 0; i < PBFT_MAX_LOG_WINDOW; i++)
		if (picks[i].have)
			nb++;
	buf_u16(&b, nb);
	for (unsigned i = 0; i < PBFT_MAX_LOG_WINDOW; i++) {
		if (!picks[i].have)
			continue;
		if (!picks[i].blk) {   /* cannot happen: verified attachments */
			log_error(MOD, "new-view: no block for pick at height %" PRIu64, min_s + 1 + i);
			buf_free(&b);
			return;
		}
		buf_u64(&b, min_s + 1 + i);
		buf_blob32(&b, picks[i].blk->data, picks[i].blk->len);
	}
	if (seal(p, &b) != 0) {
		buf_free(&b);
		return;
	}
	p->nv_sent = 1;
	out_bcast(p, b.data, b.len);
	size_t chain = chain_picks(picks, base);
	enter_view(p, p->view, 0, min_s, base, base_sender, picks, chain, b.data, b.len);
	buf_free(&b);
}

static void vc_progress(pbft_t *p)
{
	/* join: f+1 VIEW-CHANGEs for views above ours -> the smallest view
	 * that f+1 of them reach */
	uint64_t views[PBFT_MAX_NODES];
	size_t nv = 0;
	for (unsigned j = 0; j < p->cfg.n; j++)
		if (j != p->cfg.self && p->vcs[j].have && p->vcs[j].view > p->view)
			views[nv++] = p->vcs[j].view;
	if (nv >= p->f + 1) {
		uint64_t w = kth_largest(views, nv, p->f + 1);
		if (w > p->view) {
			start_vc(p, w, "f+1 replicas moved on");
			return;   /* start_vc ran vc_progress for the new view */
		}
	}
	if (!p->in_vc)
		return;
	unsigned cnt = 0;
	for (unsigned j = 0; j < p->cfg.n; j++)
		if (p->vcs[j].have && p->vcs[j].view == p->view)
			cnt++;
	if (cnt >= p->q && !p->vc_deadline)
		p->vc_deadline = p->now + cur_timeout(p);
	if (cnt >= p->q && leader_of(p, p->view) == p->cfg.self && !p->nv_sent)
		send_new_view(p);
}

/* ---------------------------------------------------------------- handlers */

/* Early view filter for normal-case messages; helps a stale sender. */
static int view_filter(pbft_t *p, const msg_t *m, const uint8_t *data)
{
	if (m->view == p->view)
		return 0;
	if (m->view < p->view && verify_msg(p, m, data) == 0)
		view_sync(p, m->sender, m->view, 1);
	if (m->view > p->view && !p->in_vc && p->now >= p->sync_asked_at + p->cfg.retransmit_ms / 2 &&
	    verify_msg(p, m, data) == 0) {
		/* the others moved on without us: ask for their NEW-VIEW */
		p->sync_asked_at = p->now;
		send_fetch(p, m->sender, p->delivered + 1, probe_upto(p));
	}
	return drop(p, PBFT_DROP_WRONG_VIEW, m, "other view");
}

/* Height window; a verified message far ahead is a hint that we lag. */
static int window_filter(pbft_t *p, const msg_t *m, const uint8_t *data)
{
	if (m->height == 0 || m->height <= p->delivered)
		return drop(p, PBFT_DROP_DUPLICATE, m, "height already delivered");
	if (m->height > p->delivered + p->L) {
		/* a hint only when it tells us something new about its sender
		 * (a verification of a large proposal is not free, and a
		 * returning replica may get dozens of them at once); fetched
		 * only as far as f+1 members vouch for, so one member cannot
		 * keep us fetching (and holding peers' txs) on its word */
		if (m->height > p->ahead[m->sender] && verify_msg(p, m, data) == 0) {
			p->ahead[m->sender] = m->height;
			uint64_t fl = committed_floor(p);
			if (fl > p->delivered)
				trigger_fetch(p, fl, m->sender);
		}
		return drop(p, PBFT_DROP_OUT_OF_WINDOW, m, "beyond log window");
	}
	return 0;
}

static int on_pre_prepare(pbft_t *p, const msg_t *m, const uint8_t *data)
{
	if (view_filter(p, m, data) || window_filter(p, m, data))
		return -1;
	if (m->sender != leader_of(p, m->view))
		return drop(p, PBFT_DROP_NOT_LEADER, m, "pre-prepare from a backup");
	if (!p->in_vc && p->nv_known && m->height <= p->nv_top)
		return drop(p, PBFT_DROP_INVALID, m, "height fixed by the new-view");
	uint64_t h = 0, hv = 0;
	uint8_t hash[HB], prev[HB];
	if (p->cb.block_id(p->cb.ctx, m->blob, m->blob_len, 0, &h, &hv, hash, prev) != 0 || h != m->height)
		return drop(p, PBFT_DROP_INVALID, m, "block does not decode as this height");
	/* a fresh proposal is of the view it is proposed in: a block of an
	 * earlier view comes back only inside a new-view, with its prepared
	 * certificate (the node checks a fresh block's timestamp against its
	 * clock, a carried-over one's it cannot) */
	if (hv != m->view)
		return drop(p, PBFT_DROP_INVALID, m, "block of another view than its pre-prepare");
	slot_t *s = slot_get(p, m->height);
	if (s->pp_state != PP_NONE && s->pp_view == m->view && s->pp) {
		if (memcmp(s->pp->hash, hash, HB) == 0)
			return drop(p, PBFT_DROP_DUPLICATE, m, "same pre-prepare");
		if (verify_msg(p, m, data) != 0)
			return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
		char a[17], b[17];
		hex8(a, s->pp->hash);
		hex8(b, hash);
		log_warn(MOD, "leader %u equivocates at view=%" PRIu64 " height=%" PRIu64 ": %s vs %s",
			 m->sender, m->view, m->height, a, b);
		p->st.equivocations++;
		drop(p, PBFT_DROP_EQUIVOCATION, m, "two pre-prepares");
		if (!p->in_vc)
			start_vc(p, p->view + 1, "leader equivocation");
		return -1;
	}
	if (verify_msg(p, m, data) != 0)
		return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
	blk_t *b = blk_new(p, m->blob, m->blob_len, m->height, 1);
	if (!b)
		return drop(p, PBFT_DROP_INVALID, m, "block does not decode");
	blk_set(&s->pp, b);
	blk_unref(b);
	s->pp_view = m->view;
	s->pp_state = PP_PENDING;
	return 0;
}

static int on_prepare(pbft_t *p, const msg_t *m, const uint8_t *data)
{
	if (view_filter(p, m, data) || window_filter(p, m, data))
		return -1;
	slot_t *s = slot_get(p, m->height);
	if (s->votes_view != p->view)
		slot_new_view(s, p->cfg.n, p->view);
	vote_t *x = &s->prep[m->sender];
	if (x->have) {
		if (memcmp(x->hash, m->hash, HB) == 0)
			return drop(p, PBFT_DROP_DUPLICATE, m, "same prepare");
		if (verify_msg(p, m, data) == 0)
			return drop(p, PBFT_DROP_EQUIVOCATION, m, "second prepare of a replica");
		return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
	}
	if (verify_msg(p, m, data) != 0)
		return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
	record_vote(x, m->view, m->hash, m->sig, m->sig_len);
	return 0;
}

static int on_commit(pbft_t *p, const msg_t *m, const uint8_t *data)
{
	if (window_filter(p, m, data))
		return -1;
	slot_t *s = slot_get(p, m->height);
	vote_t *x = &s->com[m->sender];
	if (x->have && x->view > m->view)
		return drop(p, PBFT_DROP_DUPLICATE, m, "older than a commit we have");
	if (x->have && x->view == m->view) {
		if (memcmp(x->hash, m->hash, HB) == 0)
			return drop(p, PBFT_DROP_DUPLICATE, m, "same commit");
		if (verify_msg(p, m, data) == 0)
			return drop(p, PBFT_DROP_EQUIVOCATION, m, "second commit of a replica");
		return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
	}
	if (verify_msg(p, m, data) != 0)
		return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
	record_vote(x, m->view, m->hash, m->sig, m->sig_len);
	check_cert(p, s, m->view, m->hash);
	if (m->view < p->view)
		view_sync(p, m->sender, m->view, 1);
	return 0;
}

static int on_checkpoint(pbft_t *p, const msg_t *m, const uint8_t *data)
{
	ckpt_t *c = &p->ckpt[m->sender];
	if (m->height == 0 || (c->have && c->height >= m->height))
		return drop(p, PBFT_DROP_DUPLICATE, m, "not newer");
	if (verify_msg(p, m, data) != 0)
		return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
	c->have = 1;
	c->height = m->height;
	memcpy(c->hash, m->hash, HB);
	unsigned same = 0;
	for (unsigned j = 0; j < p->cfg.n; j++)
		if (p->ckpt[j].have && p->ckpt[j].height == m->height &&
		    memcmp(p->ckpt[j].hash, m->hash, HB) == 0)
			same++;
	if (same >= p->q && m->height > p->stable_ckpt)
		p->stable_ckpt = m->height;
	/* f+1 others claim heights above ours: at least one honest has them */
	uint64_t hs[PBFT_MAX_NODES];
	size_t nh = 0;
	for (unsigned j = 0; j < p->cfg.n; j++)
		if (j != p->cfg.self && p->ckpt[j].have && p->ckpt[j].height > p->delivered)
			hs[nh++] = p->ckpt[j].height;
	if (nh >= p->f + 1)
		trigger_fetch(p, kth_largest(hs, nh, p->f + 1), m->sender);
	return 0;
}

static int on_view_change(pbft_t *p, msg_t *m, const uint8_t *data)
{
	(void)data;
	vc_t *v = m->vcm;
	if (v->view < p->view || (v->view == p->view && !p->in_vc)) {
		if (vc_verify(p, v) == 0)
			view_sync(p, m->sender, v->view, 0);
		return drop(p, PBFT_DROP_WRONG_VIEW, m, "view-change for a view we are past");
	}
	vc_t *old = &p->vcs[m->sender];
	if (old->have && old->view >= v->view)
		return drop(p, PBFT_DROP_DUPLICATE, m, "have a view-change from it for that view");
	int r = vc_verify(p, v);
	if (r != 0)
		return drop(p, (pbft_drop_t)r, m, "view-change proof");
	vc_clear(old);
	*old = *v;
	memset(v, 0, sizeof(*v));
	if (old->c_height > p->delivered)
		trigger_fetch(p, old->c_height, m->sender);
	vc_progress(p);
	return 0;
}

/* Verifies a NEW-VIEW and enters its view.  `trusted` skips checks of
 * messages we built ourselves. */
static int on_new_view(pbft_t *p, const msg_t *m, const uint8_t *data, size_t len)
{
	int ret = -1;
	vc_t *vs = NULL;
	vc_t **vp = NULL;
	int same_view = 0;
	if (m->view < p->view)
		return drop(p, PBFT_DROP_WRONG_VIEW, m, "old new-view");
	if (m->view == p->view && !p->in_vc) {
		if (p->nv_known)
			return drop(p, PBFT_DROP_DUPLICATE, m, "already in that view");
		same_view = 1;
	}
	if (m->view == 0)
		return drop(p, PBFT_DROP_MALFORMED, m, "new-view for view 0");
	if (m->sender != leader_of(p, m->view))
		return drop(p, PBFT_DROP_NOT_LEADER, m, NULL);
	if (m->nvc < p->q)
		return drop(p, PBFT_DROP_INVALID, m, "fewer view-changes than a quorum");
	if (verify_msg(p, m, data) != 0)
		return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
	vs = xcalloc(m->nvc, sizeof(*vs));
	vp = xcalloc(m->nvc, sizeof(*vp));
	uint8_t seen[PBFT_MAX_NODES];
	memset(seen, 0, sizeof(seen));
	for (uint16_t i = 0; i < m->nvc; i++) {
		const char *why = NULL;
		if (vc_parse(p, m->vc[i], m->vc_len[i], 0, &vs[i], &why) != 0) {
			drop(p, PBFT_DROP_MALFORMED, m, why);
			goto out;
		}
		vp[i] = &vs[i];
		if (vs[i].view != m->view || seen[vs[i].sender]) {
			drop(p, PBFT_DROP_INVALID, m, "view-change for another view or repeated sender");
			goto out;
		}
		seen[vs[i].sender] = 1;
		const vc_t *known = &p->vcs[vs[i].sender];
		if (known->have && known->verified && known->raw_len == vs[i].raw_len &&
		    memcmp(known->raw, vs[i].raw, known->raw_len) == 0)
			vs[i].verified = 1;
		int r = vc_verify(p, &vs[i]);
		if (r != 0) {
			drop(p, (pbft_drop_t)r, m, "embedded view-change");
			goto out;
		}
	}
	pick_t picks[PBFT_MAX_LOG_WINDOW];
	uint64_t min_s;
	uint8_t base[HB];
	int base_sender;
	compute_picks(p, vp, m->nvc, &min_s, base, &base_sender, picks);
	/* the NEW-VIEW must carry exactly the block of every pick */
	blk_t *mine[PBFT_MAX_LOG_WINDOW];
	memset(mine, 0, sizeof(mine));
	unsigned need = 0;
	for (unsigned i = 0; i < PBFT_MAX_LOG_WINDOW; i++)
		need += picks[i].have ? 1u : 0u;
	int bad = need != m->nblk;
	for (uint16_t i = 0; !bad && i < m->nblk; i++) {
		uint64_t h = m->bh[i];
		if (h <= min_s || h > min_s + p->L || !picks[h - min_s - 1].have) {
			bad = 1;
			break;
		}
		blk_t *b = blk_new(p, m->blk[i], m->blk_len[i], h, 1);
		if (!b || memcmp(b->hash, picks[h - min_s - 1].hash, HB) != 0) {
			blk_unref(b);
			bad = 1;
			break;
		}
		mine[h - min_s - 1] = b;
		picks[h - min_s - 1].blk = b;
	}
	if (!bad) {
		size_t chain = chain_picks(picks, base);
		enter_view(p, m->view, same_view, min_s, base, base_sender, picks, chain, data, len);
		ret = 0;
	} else {
		drop(p, PBFT_DROP_INVALID, m, "new-view blocks do not match its view-changes");
	}
	for (unsigned i = 0; i < PBFT_MAX_LOG_WINDOW; i++)
		blk_unref(mine[i]);
out:
	for (uint16_t i = 0; vs && i < m->nvc; i++)
		vc_clear(&vs[i]);
	free(vs);
	free(vp);
	return ret;
}

/* Reading and sending a BLOCKS reply costs far more than asking for one:
 * each peer gets at most fetch_serve_bytes_s a second (a second's worth
 * at once).  Tops peer's budget up; 1 when a reply may go now. */
static int budget_ok(pbft_t *p, uint16_t peer)
{
	if (!p->cfg.fetch_serve_bytes_s)
		return 1;
	int64_t cap = p->cfg.fetch_serve_bytes_s > (1ull << 40) ? (int64_t)1 << 40
								: (int64_t)p->cfg.fetch_serve_bytes_s;
	int64_t *budget = &p->serve_budget[peer];
	uint64_t *at = &p->budget_at[peer];
	if (!*at) {
		*budget = cap;
	} else if (p->now > *at) {
		uint64_t dt = p->now - *at;
		int64_t add = dt >= 1000 ? cap : (int64_t)(dt * (uint64_t)cap / 1000);
		*budget = *budget > cap - add ? cap : *budget + add;
	}
	*at = p->now > *at ? p->now : (*at ? *at : 1);
	return *budget > 0;
}

static void serve_fetch(pbft_t *p, uint16_t peer, uint64_t from, uint64_t upto);

static int on_fetch(pbft_t *p, const msg_t *m, const uint8_t *data)
{
	if (verify_msg(p, m, data) != 0)
		return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
	view_sync(p, m->sender, m->view, m->has_nv);
	if (p->served_at[m->sender] && p->now < p->served_at[m->sender] + p->cfg.fetch_serve_ms)
		return drop(p, PBFT_DROP_RATE_LIMITED, m, NULL);
	if (m->height > p->delivered)
		return 0;
	if (!budget_ok(p, m->sender)) {
		/* held back, not refused: a replica catching up on an idle
		 * chain may not ask again; pbft_tick serves the last one held
		 * once the budget allows, a member asking again and again
		 * gets no more than the budget */
		p->defer_from[m->sender] = m->height;
		p->defer_to[m->sender] = m->to;
		p->st.fetches_held++;   /* not a drop: an honest replica may do this */
		log_debug(MOD, "FETCH %" PRIu64 "..%" PRIu64 " from %u held back by the byte budget",
			  m->height, m->to, m->sender);
		return 0;
	}
	p->defer_from[m->sender] = 0;
	serve_fetch(p, m->sender, m->height, m->to);
	return 0;
}

/* The FETCHes the byte budget held back, as it allows (pbft_tick). */
static void serve_deferred(pbft_t *p)
{
	for (uint16_t i = 0; i < p->cfg.n; i++) {
		if (!p->defer_from[i] || !budget_ok(p, i))
			continue;
		uint64_t from = p->defer_from[i], to = p->defer_to[i];
		p->defer_from[i] = 0;
		if (from <= p->delivered)
			serve_fetch(p, i, from, to);
	}
}

static void serve_fetch(pbft_t *p, uint16_t peer, uint64_t from, uint64_t upto)
{
	p->served_at[peer] = p->now ? p->now : 1;
	uint64_t to = upto < p->delivered ? upto : p->delivered;
	if (to - from + 1 > p->cfg.fetch_max_blocks)
		to = from + p->cfg.fetch_max_blocks - 1;
	buf_t b;
	body_head(&b, p, PBFT_MSG_BLOCKS);
	size_t count_at = b.len;
	buf_u16(&b, 0);
	uint16_t cnt = 0;
	for (uint64_t h = from; h <= to; h++) {
		uint8_t *blk = NULL, *cert = NULL;
		size_t bl = 0, cl = 0;
		if (p->cb.get_block(p->cb.ctx, h, &blk, &bl, &cert, &cl) != 0) {
			free(blk);
			free(cert);
			break;
		}
		if (cnt > 0 && (b.len + bl + cl + 16 + 2 + SIG_MAX_SIG > p->cfg.max_msg_bytes ||
				b.len + bl > PBFT_REPLY_SOFT_BYTES)) {
			free(blk);
			free(cert);
			break;
		}
		buf_u64(&b, h);
		buf_blob32(&b, blk, bl);
		buf_blob32(&b, cert, cl);
		free(blk);
		free(cert);
		cnt++;
	}
	if (cnt) {
		b.data[count_at] = (uint8_t)(cnt >> 8);
		b.data[count_at + 1] = (uint8_t)cnt;
		if (seal(p, &b) == 0) {
			out_send(p, peer, b.data, b.len);
			p->serve_budget[peer] -= (int64_t)b.len;
		}
	}
	buf_free(&b);
}

static int on_blocks(pbft_t *p, const msg_t *m, const uint8_t *data)
{
	if (verify_msg(p, m, data) != 0)
		return drop(p, PBFT_DROP_BAD_SIG, m, NULL);
	uint64_t before = p->delivered;
	int ret = 0, piped = 0;
	size_t npf = 0;
	/* Pipelining: a full reply (as many blocks or bytes as a reply may
	 * carry) says there is likely more; ask the next peer for what follows
	 * it now, so that it reads and sends those blocks while we apply these
	 * (asked only afterwards, each reply costs an idle round trip plus the
	 * peer's reading of the blocks).  The peers take turns, so none is
	 * asked again within its fetch_serve_ms. */
	if (m->nblk && p->cfg.n > 2 && !p->failed) {
		uint64_t last = m->bh[m->nblk - 1];
		size_t bytes = 0;
		for (uint16_t i = 0; i < m->nblk; i++)
			bytes += m->blk_len[i];
		/* only a reply that goes on from our height, block after block
		 * (so its heights are near ours, whoever sent it) */
		if (last > p->delivered && m->bh[0] <= p->delivered + 1 && last >= m->bh[0] &&
		    last - m->bh[0] == (uint64_t)m->nblk - 1 &&
		    (m->nblk >= p->cfg.fetch_max_blocks || bytes >= PBFT_REPLY_SOFT_BYTES / 2)) {
			uint16_t peer = (uint16_t)((m->sender + 1) % p->cfg.n);
			if (peer == p->cfg.self)
				peer = (uint16_t)((peer + 1) % p->cfg.n);
			send_fetch(p, peer, last + 1, last + (probe_upto(p) - p->delivered));
			piped = 1;
		}
	}
	if (p->cb.prefetch) {
		/* the blocks after the first one to deliver: their checks can
		 * run while the ones before are applied */
		uint64_t *hs = xmalloc(m->nblk * sizeof(*hs));
		const uint8_t **raws = xmalloc(m->nblk * sizeof(*raws));
		size_t *lens = xmalloc(m->nblk * sizeof(*lens));
		for (uint16_t i = 0; i < m->nblk; i++) {
			if (m->bh[i] <= p->delivered + 1)
				continue;
			hs[npf] = m->bh[i];
			raws[npf] = m->blk[i];
			lens[npf++] = m->blk_len[i];
		}
		if (npf)
			p->cb.prefetch(p->cb.ctx, hs, raws, lens, npf);
		free(hs);
		free(raws);
		free(lens);
	}
	for (uint16_t i = 0; i < m->nblk && !p->failed; i++) {
		uint64_t h = m->bh[i];
		if (h <= p->delivered)
			continue;
		if (h != p->delivered + 1)
			break;
		blk_t *b = blk_new(p, m->blk[i], m->blk_len[i], h, 1);
		cert_t c;
		memset(&c, 0, sizeof(c));
		int ok = b && memcmp(b->prev, p->delivered_hash, HB) == 0 &&
			 cert_decode(&c, m->cert[i], m->cert_len[i], NULL, 0) == 0 &&
			 cert_check(p, &c, h, b->hash) == 0;
		if (ok && do_deliver(p, h, b, &c) == 0)
			p->st.fetched++;
		else if (!ok)
			ret = drop(p, PBFT_DROP_INVALID, m, "fetched block or certificate does not verify");
		blk_unref(b);
		cert_clear(&c);
		if (!ok)
			break;
	}
	if (npf)
		p->cb.prefetch(p->cb.ctx, NULL, NULL, NULL, 0);
	if (p->delivered > before) {
		p->fetch_attempts = 0;
		/* piped: the next reply is on its way; ask again only if it
		 * does not come */
		p->fetch_next_at = piped ? p->now + p->cfg.fetch_retry_ms : 0;
		log_debug(MOD, "state transfer from %u: %" PRIu64 " -> %" PRIu64, m->sender, before, p->delivered);
		/* the sender may hold more than one reply carries, and nothing
		 * else may tell us (an idle chain): ask it again as soon as it
		 * serves us again; a peer with nothing above our height does not
		 * answer, which ends it */
		if (p->fetch_target <= p->delivered && !p->failed) {
			p->reprobe_peer = m->sender;
			p->reprobe_at = p->now + (piped ? p->cfg.fetch_retry_ms : p->cfg.fetch_serve_ms);
			p->xfer_until = p->reprobe_at + PBFT_XFER_GRACE_MS;
		}
	}
	return ret;
}

/* ---------------------------------------------------------------- API */

pbft_t *pbft_new(const pbft_config_t *cfg, const pbft_callbacks_t *cb, uint64_t delivered_height,
		 const uint8_t delivered_hash[BSEC_HASH_BYTES], const cert_t *delivered_cert,
		 char *err, size_t errlen)
{
	const pbft_callbacks_t *c = cb;
	if (!cfg || !cb) {
		err_set(err, errlen, "missing config or callbacks");
		return NULL;
	}
	if (cfg->n == 0 || cfg->n > PBFT_MAX_NODES || cfg->self >= cfg->n) {
		err_set(err, errlen, "bad membership n=%u self=%u (n must be 1..%u)", cfg->n, cfg->self,
			PBFT_MAX_NODES);
		return NULL;
	}
	if (cfg->window == 0 || cfg->log_window < cfg->window || cfg->log_window > PBFT_MAX_LOG_WINDOW) {
		err_set(err, errlen, "bad window=%u log_window=%u (need 1 <= window <= log_window <= %u)",
			cfg->window, cfg->log_window, PBFT_MAX_LOG_WINDOW);
		return NULL;
	}
	if (cfg->view_timeout_ms == 0 || cfg->max_timeout_ms < cfg->view_timeout_ms ||
	    cfg->checkpoint_interval == 0 || cfg->fetch_max_blocks == 0 || cfg->retransmit_ms == 0 ||
	    cfg->max_block_bytes == 0) {
		err_set(err, errlen, "a timeout, interval or size is zero (timeout %" PRIu64 " ms, max %" PRIu64 " ms)",
			cfg->view_timeout_ms, cfg->max_timeout_ms);
		return NULL;
	}
	if ((uint64_t)cfg->log_window * (cfg->max_block_bytes + 64) +
		    (uint64_t)cfg->log_window * cfg->n * (4 + SIG_MAX_SIG) + CERT_BLOB_MAX + 4096 >
	    cfg->max_msg_bytes) {
		err_set(err, errlen, "log_window %u x max_block_bytes %zu does not fit max_msg_bytes %zu",
			cfg->log_window, cfg->max_block_bytes, cfg->max_msg_bytes);
		return NULL;
	}
	if (!c->send || !c->broadcast || !c->persist || !c->sign || !c->verify || !c->block_id ||
	    !c->build_block || !c->validate_block || !c->abort_from || !c->deliver || !c->get_block ||
	    !c->has_pending) {
		err_set(err, errlen, "a callback is missing");
		return NULL;
	}
	if (delivered_height > 0 && (!delivered_cert || delivered_cert->n == 0)) {
		err_set(err, errlen, "height %" PRIu64 " needs its certificate", delivered_height);
		return NULL;
	}
	pbft_t *p = xcalloc(1, sizeof(*p));
	p->cfg = *cfg;
	p->cb = *cb;
	p->f = pbft_f(cfg->n);
	p->q = pbft_quorum(cfg->n);
	p->L = cfg->log_window;
	p->delivered = delivered_height;
	memcpy(p->delivered_hash, delivered_height ? delivered_hash : cfg->chain_id, HB);
	if (delivered_height)
		cert_copy(&p->delivered_cert, delivered_cert);
	p->spec_tip = p->acc_tip = p->com_tip = p->pp_top = delivered_height;
	p->slots = xcalloc(p->L, sizeof(slot_t));
	for (unsigned i = 0; i < p->L; i++) {
		p->slots[i].prep = xcalloc(cfg->n, sizeof(vote_t));
		p->slots[i].com = xcalloc(cfg->n, sizeof(vote_t));
		p->slots[i].pc_sigs = xcalloc(cfg->n, sizeof(psig_t));
	}
	p->vcs = xcalloc(cfg->n, sizeof(vc_t));
	p->nv_sent_to = xcalloc(cfg->n, sizeof(uint64_t));
	p->ckpt = xcalloc(cfg->n, sizeof(ckpt_t));
	p->served_at = xcalloc(cfg->n, sizeof(uint64_t));
	p->serve_budget = xcalloc(cfg->n, sizeof(int64_t));
	p->budget_at = xcalloc(cfg->n, sizeof(uint64_t));
	p->defer_from = xcalloc(cfg->n, sizeof(uint64_t));
	p->defer_to = xcalloc(cfg->n, sizeof(uint64_t));
	p->probed_at = xcalloc(cfg->n, sizeof(uint64_t));
	p->ahead = xcalloc(cfg->n, sizeof(uint64_t));
	p->reprobe_peer = -1;
	p->nv_known = 1;   /* view 0 needs no NEW-VIEW */
	p->fetch_peer = -1;
	return p;
}

void pbft_free(pbft_t *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->L; i++) {
		slot_clear(&p->slots[i], p->cfg.n);
		free(p->slots[i].prep);
		free(p->slots[i].com);
		free(p->slots[i].pc_sigs);
	}
	free(p->slots);
	for (unsigned j = 0; j < p->cfg.n; j++)
		vc_clear(&p->vcs[j]);
	free(p->vcs);
	free_nv_chain(p);
	free(p->nv_msg);
	free(p->nv_sent_to);
	free(p->ckpt);
	free(p->served_at);
	free(p->serve_budget);
	free(p->budget_at);
	free(p->defer_from);
	free(p->defer_to);
	free(p->probed_at);
	free(p->ahead);
	free(p->stale);
	cert_clear(&p->delivered_cert);
	free(p);
}

static void note_stale(pbft_t *p, const char *key)
{
	p->stale = xrealloc(p->stale, (p->n_stale + 1) * sizeof(*p->stale));
	snprintf(p->stale[p->n_stale].key, sizeof(p->stale[0].key), "%s", key);
	p->n_stale++;
}

static int parse_height_key(const char *key, const char *prefix, uint64_t *h)
{
	size_t pl = strlen(prefix);
	if (strncmp(key, prefix, pl) != 0)
		return -1;
	const char *d = key + pl;
	if (!*d || strlen(d) > 20)
		return -1;
	uint64_t v = 0;
	for (; *d; d++) {
		if (*d < '0' || *d > '9')
			return -1;
		v = v * 10 + (uint64_t)(*d - '0');
	}
	*h = v;
	return 0;
}

int pbft_restore(pbft_t *p, const char *key, const uint8_t *val, size_t len)
{
	uint64_t h;
	rd_t r;
	if (p->started || !key)
		return -1;
	rd_init(&r, val, len);
	if (strcmp(key, "pbft.view") == 0) {
		if (rd_u8(&r) != PERSIST_VERSION)
			rd_fail(&r, "version");
		uint64_t v = rd_u64(&r);
		uint8_t in_vc = rd_u8(&r);
		if (!rd_end(&r) || in_vc > 1) {
			log_error(MOD, "restore: corrupt %s", key);
			return -1;
		}
		p->restored_view_have = 1;
		p->restored_view = v;
		p->restored_in_vc = in_vc;
		return 0;
	}
	int is_pp = parse_height_key(key, "pbft.pp.", &h) == 0;
	int is_vote = !is_pp && parse_height_key(key, "pbft.vote.", &h) == 0;
	if (!is_pp && !is_vote) {
		log_warn(MOD, "restore: unknown key %s ignored", key);
		return 0;
	}
	if (h <= p->delivered || h > p->delivered + p->L) {
		note_stale(p, key);
		return 0;
	}
	slot_t *s = slot_get(p, h);
	if (rd_u8(&r) != PERSIST_VERSION)
		rd_fail(&r, "version");
	if (is_pp) {
		size_t bl = 0;
		const uint8_t *bb = rd_blob32(&r, &bl, p->cfg.max_block_bytes);
		blk_t *b = rd_end(&r) ? blk_new(p, bb, bl, h, 1) : NULL;
		if (!b) {
			log_error(MOD, "restore: corrupt %s", key);
			return -1;
		}
		blk_set(&s->persisted_pp, b);
		blk_unref(b);
		s->persisted = 1;
		return 0;
	}
	uint8_t flags = rd_u8(&r);
	if (flags & 1) {
		s->my_prep = 1;
		s->my_prep_view = rd_u64(&r);
		rd_copy(&r, s->my_prep_hash, HB);
	}
	if (flags & 2) {
		s->my_com = 1;
		s->my_com_view = rd_u64(&r);
		rd_copy(&r, s->my_com_hash, HB);
	}
	if (flags & 4) {
		psig_t *tmp = NULL;
		uint16_t ns = 0;
		s->pc = 1;
		s->pc_view = rd_u64(&r);
		rd_copy(&r, s->pc_hash, HB);
		read_psigs(&r, p, &ns, &tmp);
		if (rd_ok(&r)) {
			memcpy(s->pc_sigs, tmp, ns * sizeof(psig_t));
			s->pc_n = ns;
		}
		free(tmp);
	}
	if (flags & 8) {
		size_t bl = 0;
		const uint8_t *bb = rd_blob32(&r, &bl, p->cfg.max_block_bytes);
		if (rd_ok(&r)) {
			blk_t *b = blk_new(p, bb, bl, h, 1);
			if (!b || memcmp(b->hash, s->pc_hash, HB) != 0)
				rd_fail(&r, "certificate block");
			blk_set(&s->pc_blk, b);
			blk_unref(b);
		}
	}
	if (!rd_end(&r) || (flags & ~15u) || ((flags & 8) && !(flags & 4))) {
		log_error(MOD, "restore: corrupt %s: %s", key, r.err ? r.err : "flags");
		s->my_prep = s->my_com = s->pc = 0;
		return -1;
	}
	s->persisted = 1;
	return 0;
}

void pbft_start(pbft_t *p, uint64_t now_ms)
{
	if (p->started)
		return;
	p->now = now_ms;
	p->started = 1;
	for (size_t i = 0; i < p->n_stale; i++)
		p->cb.persist(p->cb.ctx, p->stale[i].key, NULL, 0);
	free(p->stale);
	p->stale = NULL;
	p->n_stale = 0;
	uint64_t v = p->restored_view_have ? p->restored_view : 0;
	for (uint64_t h = p->delivered + 1; h <= p->delivered + p->L; h++) {
		slot_t *s = slot_peek(p, h);
		if (!s)
			continue;
		if (s->my_prep && s->my_prep_view > v)
			v = s->my_prep_view;
		if (s->my_com && s->my_com_view > v)
			v = s->my_com_view;
		if (s->pc && !s->pc_blk) {
			if (s->persisted_pp && memcmp(s->persisted_pp->hash, s->pc_hash, HB) == 0)
				blk_set(&s->pc_blk, s->persisted_pp);
			else
				s->pc = 0;   /* lost its block: cannot be reported */
		}
	}
	p->view = v;
	p->in_vc = p->restored_view_have && p->restored_in_vc && p->restored_view == v;
	for (uint64_t h = p->delivered + 1; h <= p->delivered + p->L; h++) {
		slot_t *s = slot_peek(p, h);
		if (s)
			s->votes_view = v;
	}
	if (p->in_vc) {
		p->nv_known = 0;
		p->streak = 1;
		log_info(MOD, "restarted in view change to view=%" PRIu64 " delivered=%" PRIu64, v, p->delivered);
		build_own_vc(p);
		p->retransmit_at = p->now + p->cfg.retransmit_ms / 2;
		vc_progress(p);
	} else {
		p->nv_known = v == 0;
		/* our restored proposals/votes of this view become pending again */
		for (uint64_t h = p->delivered + 1; h <= p->delivered + p->L; h++) {
			slot_t *s = slot_peek(p, h);
			if (!(s && s->my_prep && s->my_prep_view == v && s->persisted_pp &&
			      memcmp(s->persisted_pp->hash, s->my_prep_hash, HB) == 0))
				continue;
			blk_set(&s->pp, s->persisted_pp);
			s->pp_view = v;
			s->pp_state = PP_PENDING;
			if (leader_of(p, v) == p->cfg.self) {
				make_preprepare(p, s);
				if (h > p->pp_top)
					p->pp_top = h;
			}
		}
		if (p->restored_view_have || v > 0)
			log_info(MOD, "restarted in view=%" PRIu64 " delivered=%" PRIu64 "%s", v, p->delivered,
				 p->nv_known ? "" : " (asking peers for its new-view)");
	}
	/* probe a peer: newer blocks and, if we lack it, the current NEW-VIEW */
	if (p->cfg.n > 1)
		send_fetch(p, (uint16_t)((p->cfg.self + 1) % p->cfg.n), p->delivered + 1, probe_upto(p));
	if (!p->retransmit_at)
		p->retransmit_at = p->now + p->cfg.retransmit_ms;
	p->rt_delivered = p->delivered;
	if (p->in_vc)
		return;
	pump(p);
}

int pbft_receive(pbft_t *p, uint64_t now_ms, int from, const uint8_t *data, size_t len)
{
	msg_t m;
	const char *why = NULL;
	int ret = -1;
	if (!p->started || p->failed)
		return -1;
	if (now_ms > p->now)
		p->now = now_ms;
	p->st.msgs_in++;
	if (!data || len > p->cfg.max_msg_bytes + 4096 || msg_decode(p, data, len, &m, &why) != 0) {
		memset(&m, 0, sizeof(m));
		return drop(p, PBFT_DROP_MALFORMED, NULL, why ? why : "too large");
	}
	/* a NEW-VIEW is a self-contained proof and may be relayed by anyone */
	if (m.sender >= p->cfg.n || (m.sender == p->cfg.self && m.type != PBFT_MSG_NEW_VIEW) ||
	    (from >= 0 && from != m.sender && m.type != PBFT_MSG_NEW_VIEW)) {
		drop(p, PBFT_DROP_NOT_MEMBER, &m, "sender");
		goto out;
	}
	switch (m.type) {
	case PBFT_MSG_PRE_PREPARE:
		ret = on_pre_prepare(p, &m, data);
		break;
	case PBFT_MSG_PREPARE:
		ret = on_prepare(p, &m, data);
		break;
	case PBFT_MSG_COMMIT:
		ret = on_commit(p, &m, data);
		break;
	case PBFT_MSG_CHECKPOINT:
		ret = on_checkpoint(p, &m, data);
		break;
	case PBFT_MSG_VIEW_CHANGE:
		ret = on_view_change(p, &m, data);
		break;
	case PBFT_MSG_NEW_VIEW:
		ret = on_new_view(p, &m, data, len);
		break;
	case PBFT_MSG_FETCH:
		ret = on_fetch(p, &m, data);
		break;
	case PBFT_MSG_BLOCKS:
		ret = on_blocks(p, &m, data);
		break;
	default:
		drop(p, PBFT_DROP_MALFORMED, &m, "type");
		break;
	}
	pump(p);
out:
	msg_free(&m);
	return ret;
}

static void retransmit(pbft_t *p)
{
	if (p->in_vc) {
		resend_own_vc(p);
		/* alone in a view change, we may have missed the last commits of
		 * the old view while the others went idle: keep asking one peer
		 * per interval for blocks above ours, so we still converge */
		if (p->cfg.n > 1) {
			uint16_t peer = (uint16_t)((p->cfg.self + 1 + p->now / p->cfg.retransmit_ms) % p->cfg.n);
			if (peer == p->cfg.self)
				peer = (uint16_t)((peer + 1) % p->cfg.n);
			send_fetch(p, peer, p->delivered + 1, probe_upto(p));
		}
		return;
	}
	if (p->delivered != p->rt_delivered || !work_outstanding(p)) {
		p->rt_delivered = p->delivered;
		return;
	}
	/* stuck: maybe the others are ahead (e.g. they delivered a height we
	 * still vote on); ask one peer per interval, rotating */
	if (fetch_to_certified(p))
		goto resend;
	if (p->cfg.n > 1) {
		uint16_t peer = (uint16_t)((p->cfg.self + 1 + p->delivered + p->now / p->cfg.retransmit_ms) %
					   p->cfg.n);
		if (peer == p->cfg.self)
			peer = (uint16_t)((peer + 1) % p->cfg.n);
		send_fetch(p, peer, p->delivered + 1, probe_upto(p));
	}
resend:
	for (uint64_t h = p->delivered + 1; h <= p->acc_tip; h++) {
		slot_t *s = slot_peek(p, h);
		if (!s)
			continue;
		if (s->pp_msg && s->pp_msg_sent && s->pp_view == p->view)
			out_bcast(p, s->pp_msg, s->pp_msg_len);
		if (s->prep_msg && s->my_prep_view == p->view)
			out_bcast(p, s->prep_msg, s->prep_msg_len);
		if (s->com_msg && s->my_com_view == p->view)
			out_bcast(p, s->com_msg, s->com_msg_len);
	}
}

void pbft_tick(pbft_t *p, uint64_t now_ms)
{
	if (!p->started || p->failed)
		return;
	if (now_ms > p->now)
		p->now = now_ms;
	if (!p->in_vc && p->progress_deadline && p->now >= p->progress_deadline)
		start_vc(p, p->view + 1, "progress timeout");
	else if (p->in_vc && p->vc_deadline && p->now >= p->vc_deadline)
		start_vc(p, p->view + 1, "new-view timeout");
	else if (p->in_vc && !p->nv_sent && leader_of(p, p->view) == p->cfg.self)
		vc_progress(p);   /* a new leader waiting for a quorum the others can reach */
	if (p->reprobe_peer >= 0 && p->now >= p->reprobe_at) {
		if (p->fetch_target <= p->delivered) {
			send_fetch(p, (uint16_t)p->reprobe_peer, p->delivered + 1, probe_upto(p));
			p->xfer_until = p->now + PBFT_XFER_GRACE_MS;
		}
		p->reprobe_peer = -1;
	}
	if (p->now >= p->retransmit_at) {
		p->retransmit_at = p->now + (p->in_vc ? p->cfg.retransmit_ms / 2 : p->cfg.retransmit_ms);
		retransmit(p);
	}
	serve_deferred(p);
	pump(p);
}

void pbft_peer_up(pbft_t *p, uint64_t now_ms, uint16_t peer)
{
	if (!p->started || p->failed || p->cfg.n == 1 || peer >= p->cfg.n || peer == p->cfg.self)
		return;
	if (now_ms > p->now)
		p->now = now_ms;
	/* a link that flaps must not turn into a stream of requests */
	if (p->probed_at[peer] && p->now < p->probed_at[peer] + p->cfg.retransmit_ms / 2)
		return;
	p->probed_at[peer] = p->now ? p->now : 1;
	send_fetch(p, peer, p->delivered + 1, probe_upto(p));
	pump(p);
}

void pbft_suspect_leader(pbft_t *p, uint64_t now_ms, const char *why)
{
	if (!p->started || p->failed || p->in_vc)
		return;
	if (now_ms > p->now)
		p->now = now_ms;
	start_vc(p, p->view + 1, why ? why : "leader suspected by the node");
	pump(p);
}

void pbft_note_pending(pbft_t *p, uint64_t now_ms)
{
	if (!p->started || p->failed)
		return;
	if (now_ms > p->now)
		p->now = now_ms;
	pump(p);
}

uint64_t pbft_next_deadline(const pbft_t *p)
{
	uint64_t d = UINT64_MAX;
	if (!p->started || p->failed)
		return d;
	if (!p->in_vc && p->progress_deadline && p->progress_deadline < d)
		d = p->progress_deadline;
	if (p->in_vc && p->vc_deadline && p->vc_deadline < d)
		d = p->vc_deadline;
	if (p->retransmit_at && p->retransmit_at < d)
		d = p->retransmit_at;
	if (p->fetch_target > p->delivered && p->fetch_next_at < d)
		d = p->fetch_next_at;
	if (p->reprobe_peer >= 0 && p->reprobe_at < d)
		d = p->reprobe_at;
	return d;
}

uint64_t pbft_view(const pbft_t *p)
{
	return p->view;
}

uint16_t pbft_leader(const pbft_t *p)
{
	return leader_of(p, p->view);
}

int pbft_is_leader(const pbft_t *p)
{
	return leader_of(p, p->view) == p->cfg.self;
}

int pbft_in_view_change(const pbft_t *p)
{
	return p->in_vc;
}

int pbft_fetching(const pbft_t *p)
{
	/* a known target above us, or a transfer whose next reply may be on
	 * its way (a peer with nothing newer does not answer: the grace ends) */
	return p->fetch_target > p->delivered || (p->xfer_until && p->now < p->xfer_until);
}

uint64_t pbft_delivered(const pbft_t *p)
{
	return p->delivered;
}

int pbft_failed(const pbft_t *p)
{
	return p->failed;
}

void pbft_stats(const pbft_t *p, pbft_stats_t *out)
{
	*out = p->st;
	out->view = p->view;
	out->in_view_change = p->in_vc;
	out->leader = leader_of(p, p->view);
	out->delivered = p->delivered;
	out->stable_checkpoint = p->stable_ckpt;
}
