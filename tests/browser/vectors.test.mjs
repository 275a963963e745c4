// vectors.test.mjs — the portal's JavaScript (src/portal/web/bsec.mjs)
// against the C implementation, with node:test and Node's WebCrypto (the
// same API the browser uses):
//   - tests/vectors/tx_vectors.json (Ed25519, made by the C encoder):
//     decode -> encode gives the same bytes, the same signed bytes and id,
//     and signing with the same seed gives the same signature;
//   - tests/vectors/ecdsa_vectors.json (ecdsa-p256, made by `bsec tx`):
//     the JS encoder builds the same content from the fields, the C
//     signature verifies in WebCrypto, and a JS signature is accepted by
//     `bsec tx verify` (when the binary is there);
//   - tests/vectors/instr_vectors.json: the JS grammar gives the C
//     parser's canonical forms and refusal positions, and agrees with
//     `bsec instr check` on every case;
//   - Merkle paths: every leaf of trees of 1..24 leaves proves its root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as B from '../../src/portal/web/bsec.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const load = (f) => JSON.parse(fs.readFileSync(path.join(root, 'tests/vectors', f), 'utf8'));
const BSEC = process.env.BSEC || path.join(root, 'build/bsec');
const haveBsec = fs.existsSync(BSEC);
const subtle = globalThis.crypto.subtle;

test('ed25519 tx vectors: decode, re-encode, id, signature', async () => {
  const v = load('tx_vectors.json');
  const chainId = B.unhex(v.chain_id);
  assert.equal(v.vectors.length >= 4, true);
  for (const t of v.vectors) {
    const raw = B.unhex(t.raw_hex);
    const f = B.decodeTx(raw);
    const content = B.encodeContent(f);
    assert.equal(B.hex(content), B.hex(f.content), `${t.name}: content`);
    assert.equal(B.hex(B.concat(content, f.signature)), t.raw_hex, `${t.name}: raw`);
    assert.equal(raw.length, t.size);
    assert.equal(B.hex(B.signedBytes(chainId, content)), t.signed_bytes_hex, `${t.name}: signed bytes`);
    assert.equal(B.hex(await B.txId(chainId, content)), t.id, `${t.name}: id`);
    // the same Ed25519 seed signs to the same bytes (RFC 8032 is deterministic)
    const seed = new Uint8Array(32).fill(t.seed_byte);
    const pkcs8 = B.concat(B.unhex('302e020100300506032b657004220420'), seed);
    const pem = B.derToPem(pkcs8, 'PRIVATE KEY');
    const k = await B.importPkcs8(pem);
    assert.equal(B.hex(k.publicRaw), B.hex(f.sender), `${t.name}: public key from the seed`);
    const sig = await B.sign(1, k.privateKey, B.signedBytes(chainId, content));
    assert.equal(B.hex(sig), B.hex(f.signature), `${t.name}: signature`);
    const vk = await B.importRawVerifyKey(1, f.sender);
    assert.equal(await B.verify(1, vk, f.signature, B.signedBytes(chainId, content)), true);
  }
});

function fieldsOf(v, sender) {
  const f = { ...v.fields, scheme: 2, sender };
  if (f.request_id) f.request_id = B.unhex(f.request_id);
  if (f.tenant_key_pem) {
    const info = B.spkiInfo(B.pemToDer(f.tenant_key_pem, 'PUBLIC KEY'));
    f.tenant_scheme = info.scheme;
    f.tenant_key = info.raw;
  }
  return f;
}

test('ecdsa-p256 vectors: JS content == C content, signatures both ways', async () => {
  const v = load('ecdsa_vectors.json');
  const chainId = B.unhex(v.chain_id);
  const key = await B.importPkcs8(v.signer_pkcs8_pem);
  assert.equal(key.scheme, 2);
  assert.equal(key.publicRaw.length, 33, 'compressed SEC1 point');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bsec-vec-'));
  try {
    for (const t of v.vectors) {
      assert.equal(B.hex(key.publicRaw), t.sender_hex, `${t.name}: sender key`);
      const content = B.encodeContent(fieldsOf(t, key.publicRaw));
      const sb = B.signedBytes(chainId, content);
      assert.equal(B.hex(sb), t.signed_bytes_hex, `${t.name}: signed bytes`);
      assert.equal(B.hex(await B.txId(chainId, content)), t.id, `${t.name}: id`);
      // decoding the C tx gives the same content
      const d = B.decodeTx(B.unhex(t.raw_hex));
      assert.equal(B.hex(d.content), B.hex(content));
      assert.equal(B.hex(B.encodeContent(d)), B.hex(content), `${t.name}: decode/encode`);
      // C's r||s signature verifies in WebCrypto under the decompressed key
      const vk = await B.importRawVerifyKey(2, key.publicRaw);
      assert.equal(await B.verify(2, vk, d.signature, sb), true, `${t.name}: C signature in WebCrypto`);
      // and a WebCrypto signature is accepted by the C side
      const sig = await B.sign(2, key.privateKey, sb);
      assert.equal(await B.verify(2, vk, sig, sb), true);
      if (haveBsec) {
        const file = path.join(tmp, `${t.name}.tx`);
        fs.writeFileSync(file, B.concat(new TextEncoder().encode('BSTX'), chainId, content, sig));
        const r = spawnSync(BSEC, ['tx', 'verify', file], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${t.name}: bsec tx verify of a JS-signed tx: ${r.stderr}`);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('a JS-built request is what the C side reads', { skip: !haveBsec && 'no bsec binary' }, async () => {
  const chainId = await B.sha256(new TextEncoder().encode('js-request'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bsec-vec-'));
  try {
    for (const scheme of [1, 2]) {
      const pair = await B.generateKey(scheme, false);
      const { publicRaw } = await B.publicForms(scheme, pair.publicKey);
      const instruction = 'vnf create fw-9 --type firewall --config allow=tcp:80,udp:53 --config default=drop';
      const r = await B.buildRequest({ chainId, scheme, privateKey: pair.privateKey, publicRaw, domain: 'p3',
        instruction, timestamp_ms: 1763700000123, nonce: 0xdeadbeef });
      const file = path.join(tmp, `req${scheme}.tx`);
      fs.writeFileSync(file, B.concat(new TextEncoder().encode('BSTX'), chainId, r.raw));
      const v = spawnSync(BSEC, ['tx', 'verify', file], { encoding: 'utf8' });
      assert.equal(v.status, 0, v.stderr);
      const show = JSON.parse(spawnSync(BSEC, ['tx', 'show', file, '--json'], { encoding: 'utf8' }).stdout);
      assert.equal(show.id, B.hex(r.id));
      assert.equal(show.instruction, instruction);
      assert.equal(show.domain, 'p3');
      assert.equal(show.nonce, 0xdeadbeef);
      assert.equal(show.timestamp_ms, 1763700000123);
      assert.equal(show.sender_hex, B.hex(publicRaw));
      assert.equal(show.scheme, B.SCHEMES[scheme].name);
      assert.equal(show.raw_hex, B.hex(r.raw));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('instruction grammar: the C parser\'s cases', () => {
  const v = load('instr_vectors.json');
  for (const c of v.valid) {
    const r = B.parseInstruction(c.text);
    assert.equal(r.ok, true, `${JSON.stringify(c.text)}: ${r.message}`);
    assert.equal(r.canonical, c.canonical);
    const again = B.parseInstruction(r.canonical);
    assert.equal(again.canonical, c.canonical, 'canonical form is stable');
  }
  for (const c of v.invalid) {
    const r = B.parseInstruction(c.text);
    assert.equal(r.ok, false, `${JSON.stringify(c.text)} must be refused`);
    assert.equal(r.position, c.position, `${JSON.stringify(c.text)}: ${r.message}`);
    assert.ok(r.message.includes(c.reason), `${JSON.stringify(c.text)}: '${r.message}' lacks '${c.reason}'`);
  }
});

test('instruction grammar: JS and `bsec instr check` agree', { skip: !haveBsec && 'no bsec binary' }, () => {
  const v = load('instr_vectors.json');
  const extra = ['vm create a --image x --flavor y --image z', 'sfc create s --chain a --match src=0.0.0.0/0,dst=::/0',
    'vnf update a --config b=c --config d=e', 'sfc create s --chain a --match sport=1-2,dport=65534-65535',
    'vnf create ' + 'a'.repeat(40) + ' --type nat', 'x'.repeat(5000)];
  const texts = [...v.valid.map((c) => c.text), ...v.invalid.map((c) => c.text), ...extra].filter((t) => !t.includes('\0'));
  for (const t of texts) {
    const js = B.parseInstruction(t);
    const c = spawnSync(BSEC, ['instr', 'check', t], { encoding: 'utf8' });
    assert.equal(c.status === 0, js.ok, `${JSON.stringify(t)}: C says ${c.status}, JS ${js.ok}`);
    if (js.ok) {
      assert.equal(c.stdout.trim(), js.canonical);
    } else {
      const m = c.stderr.match(/at (\d+): (.*)/);
      assert.ok(m, c.stderr);
      assert.equal(Number(m[1]), js.position, `${JSON.stringify(t)}: position`);
      assert.equal(m[2], js.reason, `${JSON.stringify(t)}: message`);
    }
  }
});

test('Merkle audit paths prove every leaf', async () => {
  for (let n = 1; n <= 24; n++) {
    const leaves = [];
    for (let i = 0; i < n; i++) leaves.push(await B.sha256(new Uint8Array([n, i])));
    const root = await B.merkleRoot(leaves);
    for (let i = 0; i < n; i++) {
      const p = await B.merklePath(leaves, i);
      const r = await B.merkleRootFromPath(leaves[i], i, n, p);
      assert.ok(r && B.equal(r, root), `n=${n} i=${i}`);
      if (n > 1) assert.equal(await B.merkleRootFromPath(leaves[i], (i + 1) % n, n, p) === null ||
        !B.equal(await B.merkleRootFromPath(leaves[i], (i + 1) % n, n, p), root), true);
    }
  }
  // RFC 6962: the empty tree and a single leaf
  assert.equal(B.hex(await B.merkleRoot([])), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('P-256 point compression round trip and key forms', async () => {
  for (let i = 0; i < 5; i++) {
    const pair = await B.generateKey(2, true);
    const raw = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
    const c = B.compressP256(raw);
    assert.equal(B.hex(B.decompressP256(c)), B.hex(raw));
    const pem = await B.exportPkcs8Pem(pair.privateKey);
    const imp = await B.importPkcs8(pem);
    assert.equal(imp.privateKey.extractable, false, 'imported keys are not extractable');
    assert.equal(B.hex(imp.publicRaw), B.hex(c));
    assert.equal(B.spkiInfo(B.pemToDer(imp.spkiPem, 'PUBLIC KEY')).scheme, 2);
  }
  assert.throws(() => B.decompressP256(B.concat(Uint8Array.of(2), new Uint8Array(32).fill(0xff))));
});

test('decoder refuses malformed txs', () => {
  const v = load('tx_vectors.json');
  const raw = B.unhex(v.vectors[0].raw_hex);
  assert.throws(() => B.decodeTx(raw.slice(0, raw.length - 1)), /truncated/);
  assert.throws(() => B.decodeTx(B.concat(raw, Uint8Array.of(0))), /trailing/);
  const bad = Uint8Array.from(raw);
  bad[0] = 2;
  assert.throws(() => B.decodeTx(bad), /version/);
  const bad2 = Uint8Array.from(raw);
  bad2[14] = 9;
  assert.throws(() => B.decodeTx(bad2), /scheme/);
});
