// bsec.mjs — BSec's formats in the browser (and in Node for the tests):
// the canonical tx encoding (docs/formats.md), signing with WebCrypto
// keys, the instruction grammar (a faithful port of src/ledger/instr.c,
// same verdicts, positions and messages), SPKI/PKCS#8 key handling, the
// genesis and chain id, and the checks of an inclusion proof: tx id,
// RFC 6962 Merkle path to the header's tx_root, header hash, proposer
// signature and a quorum of commit certificate signatures.
//
// Pure logic, no DOM: the app (app.mjs) and tests/browser/ import it.

const subtle = globalThis.crypto.subtle;
const te = new TextEncoder();

export const TX_SIG_TAG = 'bsec/tx/v1';
export const BLOCK_SIG_TAG = 'bsec/block/v1';
export const COMMIT_SIG_TAG = 'bsec/commit/v1';
export const LOGIN_TAG = 'bsec/portal/login/v1';
export const TX = { REQUEST: 1, RESPONSE: 2, TENANT: 3 };
export const LIMITS = { domain: 32, name: 32, instruction: 4096, result: 16384, error: 1024, tx: 32768 };

// scheme id -> name, public key and signature lengths
export const SCHEMES = {
  1: { name: 'ed25519', pub: 32, sig: 64 },
  2: { name: 'ecdsa-p256', pub: 33, sig: 64 },
  3: { name: 'rsa-pss-2048', pub: 256, sig: 256 },
};
export function schemeId(name) {
  for (const [id, s] of Object.entries(SCHEMES)) if (s.name === name) return Number(id);
  throw new Error(`unknown scheme '${name}'`);
}

// ---- bytes -------------------------------------------------------------------

export function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
export function unhex(s) {
  if (typeof s !== 'string' || s.length % 2 || /[^0-9a-fA-F]/.test(s)) throw new Error('not hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}
export function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
export function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
export async function sha256(...parts) {
  return new Uint8Array(await subtle.digest('SHA-256', concat(...parts)));
}

// Big-endian writer, as src/lib/buf.c.
class Writer {
  constructor() {
    this.parts = [];
  }
  u8(v) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new Error(`u8 out of range: ${v}`);
    this.parts.push(Uint8Array.of(v));
  }
  u16(v) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new Error(`u16 out of range: ${v}`);
    this.parts.push(Uint8Array.of(v >> 8, v & 0xff));
  }
  u32(v) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`u32 out of range: ${v}`);
    this.parts.push(Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  }
  u64(v) {
    const b = BigInt(v);
    if (b < 0n || b > 0xffffffffffffffffn) throw new Error(`u64 out of range: ${v}`);
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, b);
    this.parts.push(out);
  }
  bytes(b) {
    this.parts.push(Uint8Array.from(b));
  }
  str8(s, max) {
    const b = typeof s === 'string' ? te.encode(s) : s;
    if (b.length > Math.min(255, max)) throw new Error(`field longer than ${Math.min(255, max)} bytes`);
    this.u8(b.length);
    this.bytes(b);
  }
  str16(s, max) {
    const b = typeof s === 'string' ? te.encode(s) : s;
    if (b.length > Math.min(65535, max)) throw new Error(`field longer than ${Math.min(65535, max)} bytes`);
    this.u16(b.length);
    this.bytes(b);
  }
  done() {
    return concat(...this.parts);
  }
}

// Text fields as the portal shows them (utf8_lossy in C): ill-formed bytes
// become U+FFFD, a leading BOM is kept, not swallowed.
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

class Reader {
  constructor(b) {
    this.b = b;
    this.off = 0;
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  need(n) {
    if (this.off + n > this.b.length) throw new Error(`offset ${this.off}: truncated`);
  }
  u8() {
    this.need(1);
    return this.b[this.off++];
  }
  u16() {
    this.need(2);
    const v = this.dv.getUint16(this.off);
    this.off += 2;
    return v;
  }
  u32() {
    this.need(4);
    const v = this.dv.getUint32(this.off);
    this.off += 4;
    return v;
  }
  u64() {
    this.need(8);
    const v = this.dv.getBigUint64(this.off);
    this.off += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`offset ${this.off - 8}: u64 too large here`);
    return Number(v);
  }
  bytes(n) {
    this.need(n);
    const v = this.b.slice(this.off, this.off + n);
    this.off += n;
    return v;
  }
  str8(max) {
    const at = this.off, n = this.u8();
    if (n > max) throw new Error(`offset ${at}: field of ${n} bytes, at most ${max}`);
    return UTF8.decode(this.bytes(n));
  }
  str16(max) {
    const at = this.off, n = this.u16();
    if (n > max) throw new Error(`offset ${at}: field of ${n} bytes, at most ${max}`);
    return UTF8.decode(this.bytes(n));
  }
}

// ---- transactions (docs/formats.md) ------------------------------------------

// The content (everything the signature covers after tag and chain id) of
// a tx given as fields: {type, timestamp_ms, nonce, scheme, sender (bytes),
// and by type: domain, instruction | request_id, status, result, error |
// action, domain, tenant_scheme, tenant_key, name, sla{...}}.
export function encodeContent(f) {
  const w = new Writer();
  const sch = SCHEMES[f.scheme];
  if (!sch) throw new Error(`unknown scheme ${f.scheme}`);
  if (f.sender.length !== sch.pub) throw new Error(`a ${sch.name} key is ${sch.pub} bytes`);
  w.u8(1);
  w.u8(f.type);
  w.u64(f.timestamp_ms);
  w.u32(f.nonce);
  w.u8(f.scheme);
  w.bytes(f.sender);
  if (f.type === TX.REQUEST) {
    w.str8(f.domain, LIMITS.domain);
    w.str16(f.instruction, LIMITS.instruction);
  } else if (f.type === TX.RESPONSE) {
    if (f.request_id.length !== 32) throw new Error('request id is 32 bytes');
    w.bytes(f.request_id);
    w.u8(f.status);
    w.str16(f.result, LIMITS.result);
    w.str16(f.error, LIMITS.error);
  } else if (f.type === TX.TENANT) {
    const ts = SCHEMES[f.tenant_scheme];
    if (!ts || f.tenant_key.length !== ts.pub) throw new Error('bad tenant key');
    w.u8(f.action);
    w.str8(f.domain, LIMITS.domain);
    w.u8(f.tenant_scheme);
    w.bytes(f.tenant_key);
    w.str8(f.name, LIMITS.name);
    w.u16(f.sla.ops);
    w.u32(f.sla.max_vms);
    w.u32(f.sla.max_vnfs);
    w.u32(f.sla.max_sfcs);
    w.u16(f.sla.max_chain);
    w.u32(f.sla.rate_per_min);
  } else {
    throw new Error(`unknown tx type ${f.type}`);
  }
  return w.done();
}

// Decodes a signed tx (strict: known version, type and scheme, limits, no
// trailing bytes) into its fields, content and signature.
export function decodeTx(raw) {
  const r = new Reader(raw);
  const f = {};
  const version = r.u8();
  if (version !== 1) throw new Error(`offset 0: unknown version ${version}`);
  f.type = r.u8();
  f.timestamp_ms = r.u64();
  f.nonce = r.u32();
  f.scheme = r.u8();
  const sch = SCHEMES[f.scheme];
  if (!sch) throw new Error(`offset 14: unknown scheme ${f.scheme}`);
  f.sender = r.bytes(sch.pub);
  if (f.type === TX.REQUEST) {
    f.domain = r.str8(LIMITS.domain);
    f.instruction = r.str16(LIMITS.instruction);
  } else if (f.type === TX.RESPONSE) {
    f.request_id = r.bytes(32);
    f.status = r.u8();
    f.result = r.str16(LIMITS.result);
    f.error = r.str16(LIMITS.error);
  } else if (f.type === TX.TENANT) {
    f.action = r.u8();
    f.domain = r.str8(LIMITS.domain);
    f.tenant_scheme = r.u8();
    const ts = SCHEMES[f.tenant_scheme];
    if (!ts) throw new Error(`offset ${r.off - 1}: unknown tenant scheme`);
    f.tenant_key = r.bytes(ts.pub);
    f.name = r.str8(LIMITS.name);
    f.sla = {
      ops: r.u16(), max_vms: r.u32(), max_vnfs: r.u32(), max_sfcs: r.u32(), max_chain: r.u16(),
      rate_per_min: r.u32(),
    };
  } else if (f.type < 1 || f.type > 4) {
    throw new Error(`offset 1: unknown type ${f.type}`);
  } else {
    // a type this page does not know the body of (e.g. attestations):
    // the content is everything but the signature
    r.off = raw.length - sch.sig;
  }
  const contentLen = r.off;
  f.signature = r.bytes(sch.sig);
  if (r.off !== raw.length) throw new Error(`offset ${r.off}: trailing bytes`);
  f.content = raw.slice(0, contentLen);
  return f;
}

export function signedBytes(chainId, content) {
  return concat(te.encode(TX_SIG_TAG), chainId, content);
}
export async function txId(chainId, content) {
  return sha256(chainId, content);
}

// ---- keys -----------------------------------------------------------------------

const ALG = {
  1: { gen: { name: 'Ed25519' }, imp: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
  2: {
    gen: { name: 'ECDSA', namedCurve: 'P-256' }, imp: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' },
  },
  3: {
    gen: null, imp: { name: 'RSA-PSS', hash: 'SHA-256' }, sign: { name: 'RSA-PSS', saltLength: 32 },
  },
};

// P-256 over BigInt: point decompression for the tx's 33-byte keys.
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
function modpow(b, e, m) {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}
function bytesToBig(b) {
  return BigInt('0x' + (hex(b) || '0'));
}
function bigToBytes(v, n) {
  return unhex(v.toString(16).padStart(2 * n, '0'));
}
export function compressP256(raw65) {
  if (raw65.length !== 65 || raw65[0] !== 4) throw new Error('not an uncompressed P-256 point');
  return concat(Uint8Array.of(2 + (raw65[64] & 1)), raw65.slice(1, 33));
}
export function decompressP256(raw33) {
  if (raw33.length !== 33 || (raw33[0] !== 2 && raw33[0] !== 3)) throw new Error('not a compressed P-256 point');
  const x = bytesToBig(raw33.slice(1));
  if (x >= P256_P) throw new Error('x out of range');
  const rhs = (((x * x * x - 3n * x + P256_B) % P256_P) + P256_P) % P256_P;
  let y = modpow(rhs, (P256_P + 1n) / 4n, P256_P);
  if ((y * y) % P256_P !== rhs) throw new Error('not a point on P-256');
  if (Number(y & 1n) !== (raw33[0] & 1)) y = P256_P - y;
  return concat(Uint8Array.of(4), bigToBytes(x, 32), bigToBytes(y, 32));
}

// PEM <-> DER
export function pemToDer(pem, label) {
  const m = pem.match(/-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/);
  if (!m) throw new Error('no PEM block found');
  if (label && m[1] !== label) throw new Error(`expected a ${label} PEM, found ${m[1]}`);
  const b64 = m[2].replace(/\s+/g, '');
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
export function derToPem(der, label) {
  let bin = '';
  for (const x of der) bin += String.fromCharCode(x);
  const b64 = btoa(bin).replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

// Minimal DER: tag, length, value slices.
function derRead(b, off) {
  const tag = b[off];
  let len = b[off + 1], p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3) throw new Error('DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | b[p + i];
    p += n;
  }
  if (p + len > b.length) throw new Error('DER truncated');
  return { tag, start: p, end: p + len };
}
function derChildren(b, node) {
  const out = [];
  for (let o = node.start; o < node.end;) {
    const c = derRead(b, o);
    out.push(c);
    o = c.end;
  }
  return out;
}
const OID_ED25519 = '2b6570';
const OID_EC = '2a8648ce3d0201';
const OID_P256 = '2a8648ce3d030107';
const OID_RSA = '2a864886f70d010101';

// SubjectPublicKeyInfo -> {scheme, raw (the tx's form), spki}
export function spkiInfo(der) {
  const top = derRead(der, 0);
  const [alg, bits] = derChildren(der, top);
  const algs = derChildren(der, alg);
  const oid = hex(der.slice(algs[0].start, algs[0].end));
  const key = der.slice(bits.start + 1, bits.end); // skip the unused-bits byte
  if (oid === OID_ED25519 && key.length === 32) return { scheme: 1, raw: key, spki: der };
  if (oid === OID_EC) {
    const curve = algs[1] ? hex(der.slice(algs[1].start, algs[1].end)) : '';
    if (curve !== OID_P256) throw new Error('EC key on a curve other than P-256');
    const raw = key[0] === 4 ? compressP256(key) : key;
    return { scheme: 2, raw, spki: der };
  }
  if (oid === OID_RSA) {
    const rk = derRead(key, 0);
    const [n] = derChildren(key, rk);
    let mod = key.slice(n.start, n.end);
    while (mod.length > 256 && mod[0] === 0) mod = mod.slice(1);
    if (mod.length !== 256) throw new Error('RSA key is not 2048 bits');
    return { scheme: 3, raw: mod, spki: der };
  }
  throw new Error('unsupported public key type');
}

// PKCS#8 private key -> its scheme (by the algorithm OID).
export function pkcs8Scheme(der) {
  const top = derRead(der, 0);
  const kids = derChildren(der, top);
  const algs = derChildren(der, kids[1]);
  const oid = hex(der.slice(algs[0].start, algs[0].end));
  if (oid === OID_ED25519) return 1;
  if (oid === OID_EC) return 2;
  if (oid === OID_RSA) return 3;
  throw new Error('unsupported private key type');
}

export async function importVerifyKey(scheme, spkiDer) {
  return subtle.importKey('spki', spkiDer, ALG[scheme].imp, false, ['verify']);
}

// Verify key from the raw form a tx or header carries.
export async function importRawVerifyKey(scheme, raw) {
  if (scheme === 1) return subtle.importKey('raw', raw, ALG[1].imp, false, ['verify']);
  if (scheme === 2) return subtle.importKey('raw', decompressP256(raw), ALG[2].imp, false, ['verify']);
  throw new Error('raw import: ed25519 and ecdsa-p256 only');
}

export async function verify(scheme, key, sig, msg) {
  try {
    return await subtle.verify(ALG[scheme].sign, key, sig, msg);
  } catch {
    return false;
  }
}

// A fresh tenant key.  extractable: true only for the one-time backup
// export; the app stores a non-extractable copy (see app.mjs).
export async function generateKey(scheme, extractable) {
  if (scheme !== 1 && scheme !== 2) throw new Error('the browser makes ed25519 or ecdsa-p256 keys');
  return subtle.generateKey(ALG[scheme].gen, extractable, ['sign', 'verify']);
}

// PKCS#8 PEM -> {scheme, privateKey (non-extractable unless asked), publicRaw, spkiPem}
export async function importPkcs8(pem, extractable = false) {
  const der = pemToDer(pem, 'PRIVATE KEY');
  const scheme = pkcs8Scheme(der);
  if (scheme !== 1 && scheme !== 2) throw new Error('the portal signs with ed25519 or ecdsa-p256 keys');
  // the public half comes from a temporary extractable copy's JWK
  const tmp = await subtle.importKey('pkcs8', der, ALG[scheme].imp, true, ['sign']);
  const jwk = await subtle.exportKey('jwk', tmp);
  delete jwk.d;
  jwk.key_ops = ['verify'];
  const pub = await subtle.importKey('jwk', jwk, ALG[scheme].imp, true, ['verify']);
  const privateKey = extractable ? tmp : await subtle.importKey('pkcs8', der, ALG[scheme].imp, false, ['sign']);
  der.fill(0);
  return { scheme, privateKey, publicKey: pub, ...(await publicForms(scheme, pub)) };
}

// {publicRaw (tx form), spkiPem} of a public CryptoKey.
export async function publicForms(scheme, publicKey) {
  const raw = new Uint8Array(await subtle.exportKey('raw', publicKey));
  const spki = new Uint8Array(await subtle.exportKey('spki', publicKey));
  return { publicRaw: scheme === 2 ? compressP256(raw) : raw, spkiPem: derToPem(spki, 'PUBLIC KEY') };
}

export async function exportPkcs8Pem(privateKey) {
  return derToPem(new Uint8Array(await subtle.exportKey('pkcs8', privateKey)), 'PRIVATE KEY');
}

export async function sign(scheme, privateKey, msg) {
  const s = new Uint8Array(await subtle.sign(ALG[scheme].sign, privateKey, msg));
  if (s.length !== SCHEMES[scheme].sig) throw new Error('unexpected signature length');
  return s;
}

// Builds and signs a REQUEST: {raw, id, content}.
export async function buildRequest({ chainId, scheme, privateKey, publicRaw, domain, instruction,
  timestamp_ms = Date.now(), nonce }) {
  if (nonce === undefined) nonce = (globalThis.crypto.getRandomValues(new Uint32Array(1))[0] | 1) >>> 0;
  const content = encodeContent({ type: TX.REQUEST, timestamp_ms, nonce, scheme, sender: publicRaw,
    domain, instruction });
  const sig = await sign(scheme, privateKey, signedBytes(chainId, content));
  const raw = concat(content, sig);
  if (raw.length >= LIMITS.tx) throw new Error('the tx is too large');
  return { raw, content, id: await txId(chainId, content) };
}

// Sign-in: tag || chain_id || nonce || u8 len || host.
export function loginMessage(chainId, nonce, host) {
  const h = te.encode(host);
  if (h.length > 255) throw new Error('host too long');
  return concat(te.encode(LOGIN_TAG), chainId, nonce, Uint8Array.of(h.length), h);
}

// ---- genesis ---------------------------------------------------------------------

// The genesis file's bytes -> chain id and the members' keys.
export async function parseGenesis(bytes) {
  const g = JSON.parse(new TextDecoder().decode(bytes));
  const chainId = await sha256(bytes);
  const providers = [];
  for (const p of g.providers) {
    const key = (pem) => spkiInfo(pemToDer(pem, 'PUBLIC KEY'));
    providers.push({ name: p.name, domains: p.domains, node: key(p.node_key), orch: key(p.orchestrator_key),
      admin: key(p.admin_key) });
  }
  const n = providers.length, f = Math.floor((n - 1) / 3);
  return { chainId, name: g.name, providers, n, f, quorum: n - f, params: g.params };
}

// ---- Merkle trees (RFC 6962 / 9162) -------------------------------------------------

async function leafHash(d) {
  return sha256(Uint8Array.of(0), d);
}
async function nodeHash(l, r) {
  return sha256(Uint8Array.of(1), l, r);
}
function splitPoint(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
export async function merkleRoot(leaves) {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return leafHash(leaves[0]);
  const k = splitPoint(leaves.length);
  return nodeHash(await merkleRoot(leaves.slice(0, k)), await merkleRoot(leaves.slice(k)));
}
// Audit path of leaf m (RFC 6962 §2.1.1), bottom first.
export async function merklePath(leaves, m) {
  if (leaves.length <= 1) return [];
  const k = splitPoint(leaves.length);
  if (m < k) return [...(await merklePath(leaves.slice(0, k), m)), await merkleRoot(leaves.slice(k))];
  return [...(await merklePath(leaves.slice(k), m - k)), await merkleRoot(leaves.slice(0, k))];
}
// RFC 9162 §2.1.3.2: the root a leaf and its path commit to, or null.
export async function merkleRootFromPath(leaf, index, size, path) {
  if (index >= size) return null;
  let fn = index, sn = size - 1;
  let r = await leafHash(leaf);
  for (const p of path) {
    if (sn === 0) return null;
    if (fn & 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (!(fn & 1)) {
        while (fn !== 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 ? r : null;
}

// ---- blocks and proofs ---------------------------------------------------------------

// The header's unsigned encoding from the node API's JSON (block_header_to_json).
export function encodeHeader(h) {
  const w = new Writer();
  const scheme = schemeId(h.proposer_scheme);
  w.u8(h.version);
  w.bytes(unhex(h.chain_id));
  w.u64(h.height);
  w.bytes(unhex(h.prev_hash));
  w.u64(h.timestamp_ms);
  w.u64(h.view);
  w.u16(h.proposer);
  w.u8(scheme);
  w.bytes(unhex(h.proposer_key_hex));
  w.u32(h.tx_count);
  w.bytes(unhex(h.tx_root));
  // version 2 commits to the txs' signatures too (docs/formats.md)
  if (h.version >= 2) w.bytes(unhex(h.sig_root));
  return w.done();
}

function commitBytes(chainId, view, height, hash) {
  const w = new Writer();
  w.bytes(te.encode(COMMIT_SIG_TAG));
  w.bytes(chainId);
  w.u64(view);
  w.u64(height);
  w.bytes(hash);
  return w.done();
}

// Checks a block (the node API's block JSON: header, hash, certificate,
// tx_ids) against genesis g: chain, header hash, proposer signature and
// a quorum of commit signatures.  Adds {what, ok, detail} to steps;
// returns the header hash.
async function checkHeader(g, block, step) {
  const h = block.header;
  step('the header belongs to this chain', hex(g.chainId) === h.chain_id, h.chain_id);
  const unsigned = encodeHeader(h);
  const hash = await sha256(unsigned);
  step('header hash = SHA-256(header)', hex(hash) === (block.hash || h.hash), hex(hash));
  const prop = g.providers[h.proposer];
  let propOk = false;
  if (prop && prop.node.scheme === schemeId(h.proposer_scheme) && hex(prop.node.raw) === h.proposer_key_hex) {
    const k = await importVerifyKey(prop.node.scheme, prop.node.spki);
    propOk = await verify(prop.node.scheme, k, unhex(h.signature_hex), concat(te.encode(BLOCK_SIG_TAG), unsigned));
  }
  step('the proposer\'s node key signed the header', propOk, prop ? `${prop.name}` : `no member ${h.proposer}`);
  const cert = block.certificate;
  const msg = commitBytes(g.chainId, cert.view, h.height, hash);
  let good = 0, last = -1;
  const signers = [];
  for (const s of cert.signatures) {
    const m = g.providers[s.node];
    if (!m || s.node <= last) break;
    last = s.node;
    const k = await importVerifyKey(m.node.scheme, m.node.spki);
    if (await verify(m.node.scheme, k, unhex(s.signature_hex), msg)) {
      good++;
      signers.push(m.name);
    }
  }
  step(`commit certificate: at least ${g.quorum} of ${g.n} members signed`,
    good >= g.quorum && good === cert.signatures.length, `${good} valid: ${signers.join(', ') || 'none'}`);
  return hash;
}

async function runChecks(fn) {
  const steps = [];
  const step = (what, ok, detail = '') => {
    steps.push({ what, ok: !!ok, detail });
    return !!ok;
  };
  const extra = {};
  try {
    await fn(step, extra);
  } catch (e) {
    step('the data is well formed', false, String(e.message || e));
  }
  return { ok: steps.length > 0 && steps.every((s) => s.ok), steps, ...extra };
}

export async function checkBlock(g, block, height) {
  return runChecks(async (step) => {
    if (height !== undefined) step(`the block is block ${height}`, block.header.height === Number(height), String(block.header.height));
    const ids = block.tx_ids.map(unhex);
    const root = await merkleRoot(ids);
    step('the tx ids hash to the header\'s tx_root', hex(root) === block.header.tx_root, `${ids.length} txs`);
    await checkHeader(g, block, step);
  });
}

// Checks that tx rawHex is in block and that the block is committed by
// the consortium of genesis g.  Returns {ok, steps: [{what, ok,
// detail}], id, path}: every step is reported, ok only when all hold.
export async function checkInclusion(g, block, rawHex, height) {
  return runChecks(async (step, extra) => {
    const t = decodeTx(unhex(rawHex));
    const id = await txId(g.chainId, t.content);
    extra.id = hex(id);
    const ids = block.tx_ids.map(unhex);
    const index = ids.findIndex((x) => equal(x, id));
    step('tx id = SHA-256(chain id ‖ content)', true, hex(id));
    if (height !== undefined) step(`the block is block ${height}`, block.header.height === Number(height), String(block.header.height));
    step('the block lists the tx', index >= 0, index >= 0 ? `position ${index} of ${ids.length}` : 'not listed');
    if (index >= 0) {
      const path = await merklePath(ids, index);
      extra.path = path.map(hex);
      const root = await merkleRootFromPath(id, index, ids.length, path);
      step('its Merkle path leads to the header\'s tx_root', root && hex(root) === block.header.tx_root,
        `${path.length} hash${path.length === 1 ? '' : 'es'} → ${root ? hex(root).slice(0, 16) : '?'}…`);
    }
    await checkHeader(g, block, step);
  });
}

// A tx's own signature, checked against its sender key; for responses
// the caller also compares the sender with the genesis's orchestrator key.
export async function checkTxSignature(g, rawHex) {
  const t = decodeTx(unhex(rawHex));
  let key;
  if (t.scheme === 3) {
    const m = g.providers.find((p) => [p.node, p.orch, p.admin].some((k) => k.scheme === 3 && equal(k.raw, t.sender)));
    if (!m) return { ok: false, tx: t };
    const k = [m.node, m.orch, m.admin].find((x) => x.scheme === 3 && equal(x.raw, t.sender));
    key = await importVerifyKey(3, k.spki);
  } else {
    key = await importRawVerifyKey(t.scheme, t.sender);
  }
  const ok = await verify(t.scheme, key, t.signature, signedBytes(g.chainId, t.content));
  const orchOf = g.providers.findIndex((p) => p.orch.scheme === t.scheme && equal(p.orch.raw, t.sender));
  return { ok, tx: t, orchestrator: orchOf >= 0 ? g.providers[orchOf].name : null };
}

// ---- the instruction grammar (src/ledger/instr.c) --------------------------------------

export const VNF_TYPES = ['forwarder', 'firewall', 'nat', 'monitor'];
export const MATCH_KEYS = ['proto', 'sport', 'dport', 'src', 'dst'];
export const MATCH_PROTOS = ['tcp', 'udp', 'sctp', 'icmp', 'icmpv6'];
const INSTR_MAX_NAME = 32, INSTR_MAX_CHAIN = 16, INSTR_MAX_CONFIG = 32, INSTR_MAX_VALUE = 128, INSTR_MAX_IMAGE = 64;
const OPT = { TYPE: 0, VM: 1, IMAGE: 2, FLAVOR: 3, CONFIG: 4, CHAIN: 5, MATCH: 6 };
const OPTS = [['--type', 0], ['--vm', 0], ['--image', 0], ['--flavor', 0], ['--config', 1], ['--chain', 0], ['--match', 0]];
const B = (o) => 1 << o;
const KINDS = ['', 'vm', 'vnf', 'sfc'];
const VERBS = ['', 'create', 'update', 'delete'];
const FORMS = [
  [1, 1, B(OPT.IMAGE) | B(OPT.FLAVOR), 0, 'vm:create'],
  [1, 3, 0, 0, 'vm:delete'],
  [2, 1, B(OPT.TYPE) | B(OPT.VM) | B(OPT.IMAGE) | B(OPT.CONFIG), B(OPT.TYPE), 'vnf:create'],
  [2, 2, B(OPT.CONFIG), B(OPT.CONFIG), 'vnf:update'],
  [2, 3, 0, 0, 'vnf:delete'],
  [3, 1, B(OPT.CHAIN) | B(OPT.MATCH), B(OPT.CHAIN), 'sfc:create'],
  [3, 2, B(OPT.CHAIN), B(OPT.CHAIN), 'sfc:update'],
  [3, 3, 0, 0, 'sfc:delete'],
].map(([kind, verb, allowed, required, op]) => ({ kind, verb, allowed, required, op }));

const CL = { LOWER: 1, UPPER: 2, DIGIT: 4, HYPHEN: 8, DOT: 16, UNDER: 32, COLON: 64, SLASH: 128, COMMA: 256, EQ: 512, PLUS: 1024, AT: 2048 };
const CL_ALNUM_LO = CL.LOWER | CL.DIGIT;
const CL_IMAGE = CL.LOWER | CL.UPPER | CL.DIGIT | CL.DOT | CL.UNDER | CL.COLON | CL.SLASH;
const CL_VALUE = CL_IMAGE | CL.HYPHEN | CL.COMMA | CL.EQ | CL.PLUS | CL.AT;
const LEX_NAME = { pattern: '[a-z0-9][a-z0-9-]{0,31}', first: CL_ALNUM_LO, rest: CL_ALNUM_LO | CL.HYPHEN, max: INSTR_MAX_NAME };
const LEX_IMAGE = { pattern: '[A-Za-z0-9._:/][A-Za-z0-9._:/-]{0,63}', first: CL_IMAGE, rest: CL_IMAGE | CL.HYPHEN, max: INSTR_MAX_IMAGE };
const LEX_KEY = { pattern: '[a-z0-9][a-z0-9_.-]{0,31}', first: CL_ALNUM_LO, rest: CL_ALNUM_LO | CL.UNDER | CL.DOT | CL.HYPHEN, max: INSTR_MAX_NAME };
const LEX_VALUE = { pattern: '[A-Za-z0-9._:/,=+@-]{1,128}', first: CL_VALUE, rest: CL_VALUE, max: INSTR_MAX_VALUE };
const LEX_MATCH = { pattern: 'KEY=VALUE[,KEY=VALUE]... of [A-Za-z0-9._:/,=+@-]', first: CL_VALUE, rest: CL_VALUE, max: Infinity };

function charClass(c) {
  if (c >= 97 && c <= 122) return CL.LOWER;
  if (c >= 65 && c <= 90) return CL.UPPER;
  if (c >= 48 && c <= 57) return CL.DIGIT;
  return { 45: CL.HYPHEN, 46: CL.DOT, 95: CL.UNDER, 58: CL.COLON, 47: CL.SLASH, 44: CL.COMMA, 61: CL.EQ, 43: CL.PLUS, 64: CL.AT }[c] || 0;
}
function quote(s) {
  return s.length > 48 ? s.slice(0, 48) + '...' : s;
}

class ParseError extends Error {
  constructor(off, reason) {
    super(`at ${off + 1}: ${reason}`);
    this.position = off + 1;
    this.reason = reason;
  }
}
const fail = (off, reason) => {
  throw new ParseError(off, reason);
};

function portValue(s) {
  if (s.length === 0 || s.length > 5 || s[0] === '0' || /[^0-9]/.test(s)) return -1;
  const v = Number(s);
  return v <= 65535 ? v : -1;
}
function smallUint(s, max) {
  if (s.length === 0 || s.length > 3 || (s.length > 1 && s[0] === '0') || /[^0-9]/.test(s)) return -1;
  const v = Number(s);
  return v <= max ? v : -1;
}
function ipv4(s) {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = [];
  for (const p of parts) {
    const v = smallUint(p, 255);
    if (v < 0) return null;
    out.push(v);
  }
  return out;
}
function hexDigit(c) {
  if (c >= '0' && c <= '9') return c.charCodeAt(0) - 48;
  if (c >= 'a' && c <= 'f') return c.charCodeAt(0) - 87;
  return -1;
}
// RFC 5952 canonical IPv6 only, as instr.c ipv6_parse.
function ipv6(s) {
  const n = s.length;
  let g = [], gap = -1, i = 0;
  if (n >= 2 && s[0] === ':' && s[1] === ':') {
    gap = 0;
    i = 2;
  } else if (n >= 1 && s[0] === ':') {
    return null;
  }
  while (i < n) {
    const start = i;
    let v = 0;
    if (g.length === 8) return null;
    while (i < n && s[i] !== ':') {
      const d = hexDigit(s[i]);
      if (d < 0 || i - start === 4) return null;
      v = v * 16 + d;
      i++;
    }
    if (i === start || (i - start > 1 && s[start] === '0')) return null;
    g.push(v);
    if (i === n) break;
    i++;
    if (i < n && s[i] === ':') {
      if (gap >= 0) return null;
      gap = g.length;
      if (++i === n) break;
    } else if (i === n) {
      return null;
    }
  }
  const ng = g.length;
  if (gap < 0 && ng !== 8) return null;
  if (gap >= 0 && ng > 6) return null;
  const gaplen = 8 - ng;
  if (gap >= 0) g = [...g.slice(0, gap), ...new Array(gaplen).fill(0), ...g.slice(gap)];
  let best = -1, bestlen = 0;
  for (let k = 0; k < 8;) {
    let run = 0;
    while (k + run < 8 && g[k + run] === 0) run++;
    if (run > bestlen) {
      best = k;
      bestlen = run;
    }
    k += run || 1;
  }
  if (bestlen < 2) best = -1;
  if (best !== gap || (gap >= 0 && bestlen !== gaplen)) return null;
  const out = [];
  for (const x of g) out.push(x >> 8, x & 0xff);
  return out;
}
function checkPrefix(s) {
  const slash = s.indexOf('/');
  const a = slash >= 0 ? s.slice(0, slash) : s;
  let bytes, addr;
  if (a.includes(':')) {
    addr = ipv6(a);
    if (!addr) return "not a canonical IPv6 address (RFC 5952: lowercase, no leading zeros, '::' for the longest run of zero groups)";
    bytes = 16;
  } else {
    addr = ipv4(a);
    if (!addr) return 'not an IPv4 address (four numbers 0-255, no leading zeros)';
    bytes = 4;
  }
  if (slash < 0) return null;
  const plen = smallUint(s.slice(slash + 1), bytes * 8);
  if (plen < 0) return bytes === 4 ? 'prefix length must be 0-32' : 'prefix length must be 0-128';
  for (let i = 0; i < bytes; i++) {
    const bit0 = i * 8;
    const mask = plen >= bit0 + 8 ? 0 : plen <= bit0 ? 0xff : 0xff >> (plen - bit0);
    if (addr[i] & mask) return 'host bits set after the prefix length';
  }
  return null;
}
export function checkMatchValue(key, v) {
  if (key === 'proto') return MATCH_PROTOS.includes(v) ? null : 'must be one of tcp, udp, sctp, icmp, icmpv6';
  if (key === 'sport' || key === 'dport') {
    const dash = v.indexOf('-');
    if (dash < 0) return portValue(v) < 0 ? 'must be a port 1-65535 or a range LO-HI' : null;
    const lo = portValue(v.slice(0, dash)), hi = portValue(v.slice(dash + 1));
    if (lo < 0 || hi < 0) return 'must be a port 1-65535 or a range LO-HI';
    if (lo >= hi) return 'range must have LO < HI';
    return null;
  }
  return checkPrefix(v);
}

// Parses an instruction exactly as instr_parse: {ok: true, instr,
// canonical} or {ok: false, position (1-based), message ("at N: ...")}.
export function parseInstruction(text) {
  try {
    const instr = parse(text);
    return { ok: true, instr, canonical: formatInstruction(instr) };
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    return { ok: false, position: e.position, message: e.message, reason: e.reason };
  }
}

function parse(text) {
  const len = text.length;
  const bytes = te.encode(text).length;
  if (bytes > LIMITS.instruction) fail(LIMITS.instruction, `instruction longer than ${LIMITS.instruction} bytes (${bytes})`);
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    const h = c.toString(16).padStart(2, '0');
    if (c === 0) fail(i, 'NUL byte');
    if (c === 9 || c === 10 || c === 13) fail(i, `control character 0x${h} (separate words with spaces only)`);
    if (c < 0x20 || c === 0x7f) fail(i, `control character 0x${h}`);
    if (c >= 0x80) {
      // instr.c sees bytes: report the first UTF-8 byte of the character
      const b = te.encode(text[i])[0];
      fail(i, `non-ASCII byte 0x${b.toString(16).padStart(2, '0')}`);
    }
  }
  let off = 0, end = 0;
  const next = () => {
    while (off < len && text[off] === ' ') off++;
    if (off >= len) return null;
    const t = { off };
    while (off < len && text[off] !== ' ') off++;
    t.len = off - t.off;
    t.s = text.slice(t.off, off);
    end = off;
    return t;
  };
  const checkLexeme = (o, s, lex, what) => {
    const q = quote(s);
    if (s.length === 0) fail(o, `empty ${what} (must match ${lex.pattern})`);
    for (let i = 0; i < s.length; i++) {
      const allowed = i === 0 ? lex.first : lex.rest;
      const cl = charClass(s.charCodeAt(i));
      if (i === lex.max) fail(o + i, `${what} '${q}' must match ${lex.pattern} (${s.length} characters, at most ${lex.max})`);
      if (!(cl & allowed)) fail(o + i, `${what} '${q}' must match ${lex.pattern} ('${s[i]}' not allowed${cl & lex.rest ? ' first' : ''})`);
    }
  };
  const out = { kind: 0, verb: 0, name: '', type: '', vm: '', image: '', flavor: '', config: [], chain: [], match: [] };
  let t = next();
  if (!t) fail(0, 'empty instruction');
  const kind = KINDS.indexOf(t.s);
  if (kind < 1) fail(t.off, `unknown object '${quote(t.s)}' (expected vm, vnf, sfc)`);
  const verbList = FORMS.filter((f) => f.kind === kind).map((f) => VERBS[f.verb]).join(', ');
  t = next();
  if (!t) fail(end, `missing verb after '${KINDS[kind]}' (expected ${verbList})`);
  const verb = VERBS.indexOf(t.s);
  const form = FORMS.find((f) => f.kind === kind && f.verb === verb);
  if (!form || verb < 1) fail(t.off, `unknown verb '${quote(t.s)}' for '${KINDS[kind]}' (expected ${verbList})`);
  out.kind = kind;
  out.verb = verb;
  const kv = `${KINDS[kind]} ${VERBS[verb]}`;
  t = next();
  if (!t) fail(end, `missing NAME after '${kv}'`);
  if (t.len >= 2 && t.s.startsWith('--')) fail(t.off, `missing NAME after '${kv}' (found option '${quote(t.s)}')`);
  checkLexeme(t.off, t.s, LEX_NAME, 'name');
  out.name = t.s;
  const optList = OPTS.filter((_, o) => form.allowed & B(o)).map((o) => o[0]).join(', ');
  let seen = 0;
  const optPos = [];
  const keyPos = [];
  while ((t = next())) {
    const q = quote(t.s);
    if (!form.allowed) fail(t.off, `unexpected '${q}' ('${kv}' takes only a NAME)`);
    if (t.len < 2 || !t.s.startsWith('--')) fail(t.off, `unexpected '${q}' (expected an option: ${optList})`);
    const eq = t.s.indexOf('=');
    const nm = eq >= 0 ? t.s.slice(0, eq) : t.s;
    let opt = -1;
    OPTS.forEach((o, i) => {
      if (form.allowed & B(i) && o[0] === nm) opt = i;
    });
    if (opt >= 0 && eq >= 0) fail(t.off, `option '${OPTS[opt][0]}' takes its value after a space ('${OPTS[opt][0]} VALUE')`);
    if (opt < 0) fail(t.off, `unknown option '${q}' for '${kv}' (expected ${optList})`);
    if (seen & B(opt) && !OPTS[opt][1]) fail(t.off, `duplicate option '${OPTS[opt][0]}' (first at ${optPos[opt] + 1})`);
    if (!(seen & B(opt))) optPos[opt] = t.off;
    seen |= B(opt);
    const v = next();
    if (!v || (v.len >= 2 && v.s.startsWith('--'))) fail(t.off + t.len, `option '${OPTS[opt][0]}' needs a value`);
    parseValue(out, opt, v, checkLexeme, keyPos);
  }
  OPTS.forEach((o, i) => {
    if (form.required & B(i) && !(seen & B(i))) fail(end, `missing required option ${o[0]} for '${kv}'`);
  });
  out.config.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  out.op = form.op;
  return out;
}

function parseValue(out, opt, v, checkLexeme, keyPos) {
  const s = v.s;
  if (opt === OPT.TYPE) {
    if (!VNF_TYPES.includes(s)) fail(v.off, `unknown VNF type '${quote(s)}' (expected forwarder, firewall, nat, monitor)`);
    out.type = s;
  } else if (opt === OPT.VM) {
    checkLexeme(v.off, s, LEX_NAME, 'VM name');
    out.vm = s;
  } else if (opt === OPT.IMAGE || opt === OPT.FLAVOR) {
    checkLexeme(v.off, s, LEX_IMAGE, opt === OPT.IMAGE ? 'image' : 'flavor');
    out[opt === OPT.IMAGE ? 'image' : 'flavor'] = s;
  } else if (opt === OPT.CONFIG) {
    const q = quote(s);
    const eq = s.indexOf('=');
    if (eq < 0) fail(v.off, `config '${q}' must be KEY=VALUE`);
    const k = s.slice(0, eq), val = s.slice(eq + 1);
    if (k.length === 0) fail(v.off, `config '${q}' has an empty key`);
    checkLexeme(v.off, k, LEX_KEY, 'config key');
    if (val.length === 0) fail(v.off + k.length, `config '${q}' has an empty value`);
    checkLexeme(v.off + k.length + 1, val, LEX_VALUE, 'config value');
    const dup = out.config.findIndex((c) => c.key === k);
    if (dup >= 0) fail(v.off, `duplicate config key '${quote(k)}' (first at ${keyPos[dup] + 1})`);
    if (out.config.length === INSTR_MAX_CONFIG) fail(v.off, `too many --config options (at most ${INSTR_MAX_CONFIG})`);
    keyPos[out.config.length] = v.off;
    out.config.push({ key: k, value: val });
  } else if (opt === OPT.CHAIN) {
    let o = v.off;
    const pos = [];
    for (const part of s.split(',')) {
      if (part.length === 0) fail(o, 'empty VNF name in chain');
      if (out.chain.length === INSTR_MAX_CHAIN) fail(o, `chain too long: more than ${INSTR_MAX_CHAIN} VNFs`);
      checkLexeme(o, part, LEX_NAME, 'VNF name');
      const dup = out.chain.indexOf(part);
      if (dup >= 0) fail(o, `VNF '${quote(part)}' repeated in chain (first at ${pos[dup] + 1})`);
      pos.push(o);
      out.chain.push(part);
      o += part.length + 1;
    }
  } else {
    checkLexeme(v.off, s, LEX_MATCH, '--match value');
    let o = v.off;
    const seen = {};
    for (const part of s.split(',')) {
      const q = quote(part);
      if (part.length === 0) fail(o, 'empty entry in --match');
      const eq = part.indexOf('=');
      if (eq < 0) fail(o, `match '${q}' must be KEY=VALUE`);
      const k = part.slice(0, eq), val = part.slice(eq + 1);
      if (!MATCH_KEYS.includes(k)) fail(o, `unknown match key '${quote(k)}' (expected proto, sport, dport, src, dst)`);
      if (k in seen) fail(o, `duplicate match key '${k}' (first at ${seen[k] + 1})`);
      if (val.length === 0) fail(o + k.length, `match '${q}' has an empty value`);
      const why = val.length > INSTR_MAX_VALUE ? 'too long' : checkMatchValue(k, val);
      if (why) fail(o + k.length + 1, `match ${k} '${quote(val)}' ${why}`);
      seen[k] = o;
      out.match.push({ key: k, value: val });
      o += part.length + 1;
    }
  }
}

// Canonical text (instr_format).
export function formatInstruction(i) {
  const form = FORMS.find((f) => f.kind === i.kind && f.verb === i.verb);
  const allowed = form ? form.allowed : 0;
  let s = `${KINDS[i.kind]} ${VERBS[i.verb]} ${i.name}`;
  if (allowed & B(OPT.TYPE) && i.type) s += ` --type ${i.type}`;
  if (allowed & B(OPT.VM) && i.vm) s += ` --vm ${i.vm}`;
  if (allowed & B(OPT.IMAGE) && i.image) s += ` --image ${i.image}`;
  if (allowed & B(OPT.FLAVOR) && i.flavor) s += ` --flavor ${i.flavor}`;
  if (allowed & B(OPT.CONFIG)) {
    const c = [...i.config].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const kv of c) s += ` --config ${kv.key}=${kv.value}`;
  }
  if (allowed & B(OPT.CHAIN) && i.chain.length) s += ` --chain ${i.chain.join(',')}`;
  if (allowed & B(OPT.MATCH) && i.match.length) s += ` --match ${i.match.map((m) => `${m.key}=${m.value}`).join(',')}`;
  return s;
}

// Which options a kind/verb takes: {allowed: [...], required: [...]}.
export function formOptions(kind, verb) {
  const f = FORMS.find((x) => KINDS[x.kind] === kind && VERBS[x.verb] === verb);
  if (!f) return null;
  const names = (mask) => OPTS.filter((_, o) => mask & B(o)).map((o) => o[0].slice(2));
  return { allowed: names(f.allowed), required: names(f.required), op: f.op };
}
export function verbsOf(kind) {
  return FORMS.filter((f) => KINDS[f.kind] === kind).map((f) => VERBS[f.verb]);
}
