// portal.test.mjs — the tenant portal in a real browser: Debian's
// chromium, headless, driven by playwright-core.  tests/system/
// test_portal.py starts a devnet (sim driver) with its portal and runs
// this with:
//   PORTAL_URL   the portal (https://127.0.0.1:PORT)
//   DEVNET_DIR   the devnet directory (for the provider admin's CLI)
//   BSEC         the bsec binary
//   OUT_DIR      where screenshots and result.json go
//
// The story: a new tenant makes a key in the browser, a provider admin
// registers its public key with the CLI, the tenant signs in, builds a VNF
// and an SFC with the form and sees both executed with the orchestrator's
// signed response, checks an inclusion proof in the browser; forged and
// replayed sign-ins, a stale session, another tenant's objects, an
// operation outside the SLA, malformed and oversized bodies are refused;
// the builder works from the keyboard; phone-width screenshots render.
// Each step prints "ok - NAME" or "not ok - NAME" (then a screenshot and
// exit 1).  result.json tells the runner what to look for on the chain.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const URL0 = process.env.PORTAL_URL;
const DIR = process.env.DEVNET_DIR;
const BSEC = process.env.BSEC;
const OUT = process.env.OUT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'bsec-portal-out-'));
if (!URL0 || !DIR || !BSEC) {
  console.error('set PORTAL_URL, DEVNET_DIR and BSEC (tests/system/test_portal.py does)');
  process.exit(2);
}
fs.mkdirSync(OUT, { recursive: true });
const t0 = Date.now();
const result = { steps: [] };
const profiles = [];
let browserCtx = null, page = null;

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage'];

async function newProfile(viewport = { width: 1200, height: 900 }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bsec-chromium-'));
  profiles.push(dir);
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ARGS, ignoreHTTPSErrors: true, viewport,
  });
  ctx.setDefaultTimeout(20000);
  return ctx;
}

function cleanup() {
  for (const d of profiles) fs.rmSync(d, { recursive: true, force: true });
}

async function step(name, fn) {
  const s = Date.now();
  try {
    await fn();
    console.log(`ok - ${name} (${Date.now() - s} ms)`);
    result.steps.push({ name, ok: true });
  } catch (e) {
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split('\n').join('\n  ')}`);
    result.steps.push({ name, ok: false, error: String(e.message || e) });
    if (page) await page.screenshot({ path: path.join(OUT, 'failure.png'), fullPage: true }).catch(() => {});
    fs.writeFileSync(path.join(OUT, 'result.json'), JSON.stringify(result, null, 2));
    if (browserCtx) await browserCtx.close().catch(() => {});
    cleanup();
    process.exit(1);
  }
}
function check(cond, msg) {
  if (!cond) throw new Error(msg);
}
function bsec(...args) {
  const r = spawnSync(BSEC, args, { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`bsec ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
async function shot(name, p = page) {
  await p.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
}
async function go(hash, p = page) {
  await p.evaluate((h) => {
    location.hash = h;
  }, hash);
}
// fetch from inside the page (same origin, the session cookie goes along)
async function pageFetch(p, method, url, { body, raw, csrf = true, headers = {} } = {}) {
  return p.evaluate(async ({ method, url, body, raw, csrf, headers }) => {
    const h = { ...headers };
    if (method !== 'GET') {
      h['X-BSec-Request'] = '1';
      if (csrf) {
        const s = await fetch('/api/session').then((r) => r.json()).catch(() => ({}));
        if (s.csrf) h['X-CSRF-Token'] = s.csrf;
      }
    }
    let b = body;
    if (raw) b = new Uint8Array(raw);
    else if (body !== undefined && typeof body !== 'string') b = JSON.stringify(body);
    const r = await fetch(url, { method, headers: h, body: b });
    let data = null;
    try {
      data = await r.json();
    } catch { /* not JSON */ }
    return { status: r.status, data };
  }, { method, url, body, raw, csrf, headers });
}
async function waitReady(p = page) {
  await p.waitForSelector('body[data-ready="1"]');
}

// ---------------------------------------------------------------------------------------

browserCtx = await newProfile();
page = browserCtx.pages()[0] || (await browserCtx.newPage());
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(e.message));
page.on('console', (m) => {
  if (m.type() === 'error' && !/status of (400|401|403|404|409|413|422)/.test(m.text())) consoleErrors.push(m.text());
});
page.on('dialog', (d) => d.dismiss());

let docResponse;
await step('the portal serves the app with a strict CSP and security headers', async () => {
  docResponse = await page.goto(URL0 + '/');
  const hd = docResponse.headers();
  const csp = hd['content-security-policy'] || '';
  check(/script-src 'self'(;|$)/.test(csp), `CSP script-src: ${csp}`);
  check(!/unsafe-inline|unsafe-eval/.test(csp), `CSP allows inline code: ${csp}`);
  check(csp.includes("frame-ancestors 'none'") && csp.includes("default-src 'none'"), `CSP: ${csp}`);
  check(/max-age=\d+/.test(hd['strict-transport-security'] || ''), 'HSTS missing');
  check(hd['x-content-type-options'] === 'nosniff', 'nosniff missing');
  check(hd['referrer-policy'] === 'no-referrer', 'Referrer-Policy missing');
  check(hd['x-frame-options'] === 'DENY', 'X-Frame-Options missing');
  await waitReady();
  // no CDN, no internet: every resource the page loaded is from the portal
  const urls = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  check(urls.every((u) => u.startsWith(URL0)), `foreign resources: ${urls}`);
  result.csp = csp;
});

let pub;
await step('a new ecdsa-p256 key is created in the browser, non-extractable, with a one-time backup', async () => {
  await page.waitForSelector('#k-create');
  await page.selectOption('#k-scheme', '2');
  await page.click('#k-create');
  await page.waitForSelector('#k-backup');
  const backup = await page.inputValue('#k-backup');
  check(backup.startsWith('-----BEGIN PRIVATE KEY-----'), 'no PKCS#8 backup shown');
  await shot('key-backup');
  await page.click('#k-backup-done');
  await page.waitForSelector('#k-public');
  pub = await page.inputValue('#k-public');
  check(pub.startsWith('-----BEGIN PUBLIC KEY-----'), 'no public key');
  check((await page.textContent('#k-scheme-name')) === 'ecdsa-p256', 'scheme');
  const hexKey = await page.textContent('#k-public-hex');
  check(/^0[23][0-9a-f]{64}$/.test(hexKey), `compressed key: ${hexKey}`);
  const stored = await page.evaluate(async () => {
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open('bsec-portal', 1);
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const rec = await new Promise((res) => {
      const rq = db.transaction('keys').objectStore('keys').get('tenant');
      rq.onsuccess = () => res(rq.result);
    });
    let exported = true;
    try {
      await crypto.subtle.exportKey('pkcs8', rec.privateKey);
    } catch {
      exported = false;
    }
    return { extractable: rec.privateKey.extractable, exported, type: rec.privateKey.type };
  });
  check(stored.type === 'private' && stored.extractable === false && stored.exported === false,
    `the stored key must be non-extractable: ${JSON.stringify(stored)}`);
  check(!(await page.$('#k-backup')), 'the backup must be gone after "I saved it"');
  result.public_key_pem = pub;
  result.public_key_hex = hexKey;
  result.scheme = 'ecdsa-p256';
});

await step('sign-in is refused before a provider registers the key', async () => {
  await page.click('#k-signin');
  await page.waitForSelector('#signin-error');
  const t = await page.textContent('#signin-error');
  check(/no active registration|no unrevoked grant/.test(t), `refusal: ${t}`);
});

// the other tenant (the devnet's demo tenant) owns an object, made with the CLI
const demoKey = path.join(DIR, 'tenants/demo.pem');
let demoReq;
await step('a provider admin registers the browser key (CLI); the demo tenant makes its own VNF (CLI)', async () => {
  const pemFile = path.join(OUT, 'tenant.pub.pem');
  fs.writeFileSync(pemFile, pub);
  bsec('tenant', 'register', '--dir', DIR, '--admin-key', path.join(DIR, 'keys/p0-admin.pem'), '--domain', 'p0',
    '--tenant-key', pemFile, '--name', 'alice', '--ops', 'vm:delete,vnf:*,sfc:*', '--max-chain', '4');
  const out = bsec('request', '--dir', DIR, '--key', demoKey, '--domain', 'p0', 'vnf create demo-fw --type firewall',
    '--wait-response', '--json');
  demoReq = JSON.parse(out).id;
  check(/^[0-9a-f]{64}$/.test(demoReq), `demo request id: ${out}`);
  result.demo_request = demoReq;
});

await step('the tenant signs in with a challenge signed in the browser', async () => {
  // the portal may be a block behind the CLI: retry while it says "not registered"
  for (let i = 0; ; i++) {
    await page.reload();
    await waitReady();
    await go('#/key');
    await page.click('#k-signin');
    const r = await Promise.race([
      page.waitForSelector('#services').then(() => 'in'),
      page.waitForSelector('#signin-error').then(() => 'refused'),
    ]);
    if (r === 'in') break;
    check(i < 20, `sign-in keeps failing: ${await page.textContent('#signin-error')}`);
    await page.waitForTimeout(250);
  }
  check((await page.textContent('#who-name')).includes('alice'), 'signed in as alice');
});

await step('a forged sign-in (signed by another key) is refused', async () => {
  const r = await page.evaluate(async (pubHex) => {
    const B = await import('/bsec.mjs');
    const ch = await fetch('/api/challenge', { method: 'POST', headers: { 'X-BSec-Request': '1' } }).then((x) => x.json());
    const other = await B.generateKey(2, false);
    const sig = await B.sign(2, other.privateKey, B.loginMessage(B.unhex(ch.chain_id), B.unhex(ch.nonce), location.host));
    const res = await fetch('/api/login', { method: 'POST', headers: { 'X-BSec-Request': '1', 'Content-Type': 'application/json' },
      body: JSON.stringify({ scheme: 'ecdsa-p256', public_key_hex: pubHex, nonce: ch.nonce, signature_hex: B.hex(sig) }) });
    return { status: res.status, data: await res.json() };
  }, result.public_key_hex);
  check(r.status === 401 && r.data.error === 'bad_signature', `forged: ${JSON.stringify(r)}`);
  // a signature over another host (a relaying site) is refused the same way
  const r2 = await page.evaluate(async () => {
    const B = await import('/bsec.mjs');
    const db = await new Promise((res) => {
      const o = indexedDB.open('bsec-portal', 1);
      o.onsuccess = () => res(o.result);
    });
    const rec = await new Promise((res) => {
      const q = db.transaction('keys').objectStore('keys').get('tenant');
      q.onsuccess = () => res(q.result);
    });
    const ch = await fetch('/api/challenge', { method: 'POST', headers: { 'X-BSec-Request': '1' } }).then((x) => x.json());
    const sig = await B.sign(rec.scheme, rec.privateKey, B.loginMessage(B.unhex(ch.chain_id), B.unhex(ch.nonce), 'evil.example'));
    const res = await fetch('/api/login', { method: 'POST', headers: { 'X-BSec-Request': '1', 'Content-Type': 'application/json' },
      body: JSON.stringify({ scheme: 'ecdsa-p256', public_key_hex: rec.publicRaw, nonce: ch.nonce, signature_hex: B.hex(sig) }) });
    return { status: res.status, data: await res.json() };
  });
  check(r2.status === 401 && r2.data.error === 'bad_signature', `other host: ${JSON.stringify(r2)}`);
});

await step('a replayed sign-in (the same signed challenge twice) is refused', async () => {
  const r = await page.evaluate(async () => {
    const B = await import('/bsec.mjs');
    const db = await new Promise((res) => {
      const o = indexedDB.open('bsec-portal', 1);
      o.onsuccess = () => res(o.result);
    });
    const rec = await new Promise((res) => {
      const q = db.transaction('keys').objectStore('keys').get('tenant');
      q.onsuccess = () => res(q.result);
    });
    const ch = await fetch('/api/challenge', { method: 'POST', headers: { 'X-BSec-Request': '1' } }).then((x) => x.json());
    const sig = await B.sign(rec.scheme, rec.privateKey, B.loginMessage(B.unhex(ch.chain_id), B.unhex(ch.nonce), location.host));
    const body = JSON.stringify({ scheme: 'ecdsa-p256', public_key_hex: rec.publicRaw, nonce: ch.nonce, signature_hex: B.hex(sig) });
    const post = () => fetch('/api/login', { method: 'POST', headers: { 'X-BSec-Request': '1', 'Content-Type': 'application/json' }, body });
    const a = await post();
    const b = await post();
    return { first: a.status, second: b.status, data: await b.json() };
  });
  check(r.first === 200, `the genuine sign-in works: ${JSON.stringify(r)}`);
  check(r.second === 401 && r.data.error === 'challenge_unknown', `replay: ${JSON.stringify(r)}`);
  await page.reload(); // the app picks up the session the genuine sign-in made
  await waitReady();
});

async function builderSet(sel, value) {
  await page.selectOption(sel, value);
}
async function waitExecuted(kind, name) {
  await go(`#/object/${kind}/${name}`);
  await page.waitForSelector('#timeline li.executed [data-verified="yes"]', { timeout: 30000 });
  const txt = await page.textContent('#timeline li.executed');
  check(/Executed by p0's orchestrator/.test(txt), `executor: ${txt}`);
  check(/signature verified/.test(txt), 'response signature verified');
  return page.getAttribute('#timeline li.executed', 'data-request');
}

await step('the builder creates a VNF; it becomes executed with the orchestrator\'s signed response', async () => {
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await builderSet('#b-kind', 'vnf');
  await builderSet('#b-verb', 'create');
  await builderSet('#b-domain', 'p0');
  await page.fill('#b-name', 'fw1');
  await builderSet('#b-type', 'firewall');
  await page.click('#b-config-add');
  await page.fill('#b-ck-0', 'default');
  await page.fill('#b-cv-0', 'drop');
  await page.click('#b-config-add');
  await page.fill('#b-ck-1', 'allow');
  await page.fill('#b-cv-1', 'tcp:80');
  check((await page.textContent('#b-preview')) === 'vnf create fw1 --type firewall --config allow=tcp:80 --config default=drop',
    `preview: ${await page.textContent('#b-preview')}`);
  // a space would split the instruction: the form refuses it
  await page.fill('#b-cv-1', 'tcp:80 --vm x');
  check(await page.isDisabled('#b-submit'), 'a value with a space must not be submittable');
  check((await page.getAttribute('#b-cv-1', 'aria-invalid')) === 'true', 'the bad field is marked');
  await page.fill('#b-cv-1', 'tcp:80');
  await page.waitForSelector('#b-allowed');
  await shot('builder-vnf');
  await page.click('#b-submit');
  await page.waitForSelector('#b-submitted');
  result.vnf_request = await page.getAttribute('#b-submitted', 'data-id');
  const req = await waitExecuted('vnf', 'fw1');
  check(req === result.vnf_request, 'the executed request is the one submitted');
  await shot('history-vnf');
});

await step('an outcome the portal misreports is caught: the badge covers the result, state and executor shown, not just the signature', async () => {
  // the portal (here a route in front of it) reports what the
  // orchestrator did not sign: another result, then another executor
  const pattern = '**/api/objects/vnf/fw1';
  const lies = [
    (e) => { e.response.result = 'tampered by the portal'; },
    (e) => { e.response.executor = 'p3'; },
  ];
  for (const lie of lies) {
    await page.route(pattern, async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      for (const e of body.history) if (e.response) lie(e);
      await route.fulfill({ response: res, json: body });
    });
    await go('#/build');
    await page.waitForSelector('#b-kind');
    await go('#/object/vnf/fw1');
    await page.waitForSelector('#timeline li [data-verified="mismatch"]', { timeout: 30000 });
    const txt = await page.textContent('#timeline li .sig[data-verified="mismatch"]');
    check(/does not match the signed response/.test(txt), `mismatch badge: ${txt}`);
    check(!/tampered/.test(txt) && /executed, result/.test(txt) && /of p0/.test(txt), `the signed outcome is shown: ${txt}`);
    await page.unroute(pattern);
  }
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await go('#/object/vnf/fw1');
  await page.waitForSelector('#timeline li.executed [data-verified="yes"]', { timeout: 30000 });
});

await step('the builder creates a second VNF and an SFC through both, in order; executed, drawn as a diagram', async () => {
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await builderSet('#b-kind', 'vnf');
  await builderSet('#b-verb', 'create');
  await page.fill('#b-name', 'mon1');
  await builderSet('#b-type', 'monitor');
  while (await page.$('#b-cdel-0')) await page.click('#b-cdel-0'); // the settings of the last VNF stay in the form
  await page.waitForSelector('#b-allowed');
  await page.click('#b-submit');
  await page.waitForSelector('#b-submitted');
  result.vnf2_request = await page.getAttribute('#b-submitted', 'data-id');
  // a chain names only VNFs whose create was executed: wait for mon1 to be active
  await go('#/services');
  await page.waitForSelector('#services [data-object="vnf/mon1"] .badge.active', { timeout: 30000 });
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await builderSet('#b-kind', 'sfc');
  await builderSet('#b-verb', 'create');
  await page.fill('#b-name', 'web');
  // mon1 first, then fw1, then fw1 moved up: the chain is fw1, mon1
  await page.selectOption('#b-chain-pick', 'mon1');
  await page.click('#b-chain-add');
  await page.selectOption('#b-chain-pick', 'fw1');
  await page.click('#b-chain-add');
  await page.click('#b-up-1');
  await builderSet('#b-proto', 'tcp');
  await page.fill('#b-dport', '80');
  await page.fill('#b-src', '10.0.0.1/8');
  check(await page.isDisabled('#b-submit'), 'a prefix with host bits must not be submittable');
  check(/host bits/.test(await page.textContent('#b-src-err')), 'the reason is shown');
  await page.fill('#b-src', '10.0.0.0/8');
  check((await page.textContent('#b-preview')) === 'sfc create web --chain fw1,mon1 --match proto=tcp,dport=80,src=10.0.0.0/8',
    `preview: ${await page.textContent('#b-preview')}`);
  await page.waitForSelector('#b-allowed');
  await page.click('#b-submit');
  await page.waitForSelector('#b-submitted');
  result.sfc_request = await page.getAttribute('#b-submitted', 'data-id');
  const req = await waitExecuted('sfc', 'web');
  check(req === result.sfc_request, 'the executed request is the one submitted');
  await page.waitForSelector('#object svg.diagram');
  await shot('history-sfc');
  await go('#/services');
  await page.waitForSelector('#services figure.sfc svg.diagram');
  const svgText = await page.textContent('#services figure.sfc svg');
  check(svgText.includes('fw1') && svgText.includes('mon1') && svgText.indexOf('fw1') < svgText.indexOf('mon1') &&
    svgText.includes('in') && svgText.includes('out'), `diagram: ${svgText}`);
  const items = await page.$$eval('#services [data-object]', (els) => els.map((e) => e.dataset.object));
  check(items.includes('vnf/fw1') && items.includes('vnf/mon1') && items.includes('sfc/web'), `services: ${items}`);
  check(!items.includes('vnf/demo-fw'), 'another tenant\'s object must not be listed');
  await shot('services');
});

await step('a genuine response shown under another request is caught, even once checked under its own', async () => {
  // fw1's response was checked on fw1's page; the portal (a route in front
  // of it) now shows it as the answer to sfc web's request
  const fw = await pageFetch(page, 'GET', '/api/objects/vnf/fw1');
  const genuine = fw.data.history.find((e) => e.response && e.state === 'executed').response;
  const pattern = '**/api/objects/sfc/web';
  await page.route(pattern, async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    for (const e of body.history) if (e.response) e.response = { ...genuine };
    await route.fulfill({ response: res, json: body });
  });
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await go('#/object/sfc/web');
  await page.waitForSelector('#timeline li [data-verified="no"]', { timeout: 30000 });
  check(!(await page.$('#timeline li [data-verified="yes"]')), 'no response is marked verified');
  await page.unroute(pattern);
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await go('#/object/sfc/web');
  await page.waitForSelector('#timeline li.executed [data-verified="yes"]', { timeout: 30000 });
});

await step('the browser checks the inclusion proof and the commit certificate', async () => {
  await go(`#/tx/${result.sfc_request}`);
  await page.waitForSelector('#proof-result');
  check((await page.getAttribute('#proof-result', 'data-ok')) === 'yes',
    `proof: ${await page.textContent('#tx')}`);
  check((await page.getAttribute('#tx-sig', 'data-ok')) === 'yes', 'request signature');
  const steps = await page.$$eval('#tx .checks li', (els) => els.map((e) => e.className + ' ' + e.textContent));
  check(steps.length >= 7 && steps.every((s) => s.startsWith('yes')), `steps: ${steps}`);
  check(steps.some((s) => /commit certificate: at least 3 of 4/.test(s)), `quorum: ${steps}`);
  await shot('tx-proof');
  const h = await page.$eval('#tx a[href^="#/block/"]', (a) => a.getAttribute('href'));
  await go(h);
  await page.waitForSelector('#block-result');
  check((await page.getAttribute('#block-result', 'data-ok')) === 'yes', 'block check');
  await shot('block');
});

await step('a node\'s word beside the signed bytes is not shown: the tx page shows what the raw tx holds, and a block page checks its height', async () => {
  // a node (here a route in front of the portal) rewrites the JSON view of
  // the request and serves another block under the height asked for
  const txPattern = `**/api/tx/${result.sfc_request}`;
  await page.route(txPattern, async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    body.tx.instruction = 'vnf delete fw1';
    body.tx.domain = 'p3';
    await route.fulfill({ response: res, json: body });
  });
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await go(`#/tx/${result.sfc_request}`);
  await page.waitForSelector('#proof-result');
  const txt = await page.textContent('#tx');
  check(!/vnf delete fw1/.test(txt) && /sfc create web/.test(txt), `the signed instruction is shown: ${txt}`);
  await page.unroute(txPattern);
  const h = Number((await page.$eval('#tx a[href^="#/block/"]', (a) => a.getAttribute('href'))).split('/').pop());
  const o = h > 1 ? h - 1 : h + 1;
  const other = await pageFetch(page, 'GET', `/api/block/${o}`);
  check(other.status === 200, `block ${o}: ${other.status}`);
  const blockPattern = `**/api/block/${h}`;
  await page.route(blockPattern, (route) => route.fulfill({ status: 200, json: other.data }));
  await go(`#/block/${h}`);
  await page.waitForSelector('#block-result');
  check((await page.getAttribute('#block-result', 'data-ok')) === 'no', `block ${o} shown as block ${h} is not verified`);
  await page.unroute(blockPattern);
});

await step('keyboard only: the builder is reachable and usable; an operation outside the SLA is refused with its reason', async () => {
  await go('#/services');
  await page.waitForSelector('#services');
  // from the top of the page, Tab to the "New request" link and open it
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.focus('body');
  let found = false;
  for (let i = 0; i < 15 && !found; i++) {
    await page.keyboard.press('Tab');
    found = await page.evaluate(() => document.activeElement && document.activeElement.id === 'nav-build');
  }
  check(found, 'Tab reaches the "New request" link');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#b-kind');
  const tabTo = async (id, max = 25) => {
    for (let i = 0; i < max; i++) {
      if (await page.evaluate((x) => document.activeElement && document.activeElement.id === x, id)) return;
      await page.keyboard.press('Tab');
    }
    throw new Error(`Tab does not reach #${id}`);
  };
  await tabTo('b-kind');
  // "vm" is the first option: Home picks it on a closed select
  await page.keyboard.press('Home');
  check((await page.inputValue('#b-kind')) === 'vm', `kind by keyboard: ${await page.inputValue('#b-kind')}`);
  await tabTo('b-name');
  await page.keyboard.type('vm1');
  await page.waitForSelector('#b-denied');
  const denied = await page.textContent('#b-denied');
  check(/does not allow/.test(denied) && /vm:create/.test(denied), `SLA verdict: ${denied}`);
  await tabTo('b-submit', 40);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#b-refusal');
  const why = await page.textContent('#b-refusal');
  check(/service agreement/.test(why) && /does not allow vm:create/.test(why), `refusal: ${why}`);
  await shot('refused-sla');
  result.refused_instruction = 'vm create vm1';
});

await step('another tenant\'s object: not listed, not viewable, not changeable', async () => {
  const r = await pageFetch(page, 'GET', '/api/objects/vnf/demo-fw');
  check(r.status === 403 && r.data.error === 'not_owner', `view: ${JSON.stringify(r)}`);
  const t = await pageFetch(page, 'GET', `/api/tx/${demoReq}`);
  check(t.status === 403 && t.data.error === 'not_owner', `tx: ${JSON.stringify(t)}`);
  await go('#/object/vnf/demo-fw');
  await page.waitForSelector('#object-error');
  check(/belongs to another tenant/.test(await page.textContent('#object-error')), 'the page says why');
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await builderSet('#b-kind', 'vnf');
  await builderSet('#b-verb', 'delete');
  await page.fill('#b-name', 'demo-fw');
  await page.waitForSelector('#b-denied');
  await page.click('#b-submit');
  await page.waitForSelector('#b-refusal');
  const why = await page.textContent('#b-refusal');
  check(/belongs to another tenant/.test(why), `refusal: ${why}`);
  result.refused_other = 'vnf delete demo-fw';
});

await step('bad input: malformed and oversized bodies, another key\'s tx, a missing CSRF token', async () => {
  const garbage = await pageFetch(page, 'POST', '/api/submit', { raw: [1, 2, 3, 4], headers: { 'Content-Type': 'application/octet-stream' } });
  check(garbage.status === 400 && garbage.data.error === 'malformed_tx', `garbage: ${JSON.stringify(garbage)}`);
  const big = await pageFetch(page, 'POST', '/api/submit', { raw: new Array(40000).fill(1) });
  check(big.status === 413 && big.data.error === 'body_too_large', `40 KB: ${JSON.stringify(big)}`);
  const huge = await pageFetch(page, 'POST', '/api/submit', { raw: new Array(200000).fill(1) });
  check(huge.status === 413, `200 KB: ${huge.status}`);
  const notJson = await pageFetch(page, 'POST', '/api/check', { body: '{"domain": ' });
  check(notJson.status === 400 && notJson.data.error === 'bad_body', `bad JSON: ${JSON.stringify(notJson)}`);
  const wrongType = await pageFetch(page, 'POST', '/api/check', { body: { domain: 7, instruction: [] } });
  check(wrongType.status === 400, `wrong types: ${JSON.stringify(wrongType)}`);
  const noCsrf = await pageFetch(page, 'POST', '/api/check', { body: { domain: 'p0', instruction: 'vm delete x' }, csrf: false });
  check(noCsrf.status === 403 && noCsrf.data.error === 'csrf', `no CSRF token: ${JSON.stringify(noCsrf)}`);
  const other = await page.evaluate(async () => {
    const B = await import('/bsec.mjs');
    const info = await fetch('/api/info').then((r) => r.json());
    const k = await B.generateKey(1, false);
    const { publicRaw } = await B.publicForms(1, k.publicKey);
    const { raw } = await B.buildRequest({ chainId: B.unhex(info.chain_id), scheme: 1, privateKey: k.privateKey,
      publicRaw, domain: 'p0', instruction: 'vnf create sneaky --type nat' });
    const s = await fetch('/api/session').then((r) => r.json());
    const r = await fetch('/api/submit', { method: 'POST', body: raw,
      headers: { 'X-BSec-Request': '1', 'X-CSRF-Token': s.csrf, 'Content-Type': 'application/octet-stream' } });
    return { status: r.status, data: await r.json() };
  });
  check(other.status === 403 && other.data.error === 'not_your_key', `another key: ${JSON.stringify(other)}`);
  const noHeader = await page.evaluate(async () => (await fetch('/api/challenge', { method: 'POST' })).status);
  check(noHeader === 403, `a POST without X-BSec-Request: ${noHeader}`);
});

await step('one tenant cannot see another\'s services: the demo tenant, in its own browser', async () => {
  const ctx2 = await newProfile();
  const p2 = ctx2.pages()[0] || (await ctx2.newPage());
  await p2.goto(URL0 + '/#/key');
  await waitReady(p2);
  await p2.fill('#k-import-pem', fs.readFileSync(demoKey, 'utf8'));
  await p2.click('#k-import');
  await p2.waitForSelector('#k-signin');
  check((await p2.textContent('#k-scheme-name')) === 'ed25519', 'imported an Ed25519 PKCS#8 key');
  await p2.click('#k-signin');
  await p2.waitForSelector('#services [data-object]');
  const items = await p2.$$eval('#services [data-object]', (els) => els.map((e) => e.dataset.object));
  check(items.includes('vnf/demo-fw'), `demo sees its VNF: ${items}`);
  check(!items.includes('vnf/fw1') && !items.includes('sfc/web'), `demo must not see alice's: ${items}`);
  const r = await pageFetch(p2, 'GET', '/api/objects/sfc/web');
  check(r.status === 403, `alice's sfc from demo's session: ${r.status}`);
  await ctx2.close();
});

await step('live update: a change made elsewhere shows up without reloading', async () => {
  await go('#/object/vnf/fw1');
  await page.waitForSelector('#timeline li.executed');
  // alice's key is in the browser only, so the change is the demo tenant's
  // view of the chain moving: the chain bar's height follows new blocks
  const before = Number(await page.textContent('#height'));
  bsec('request', '--dir', DIR, '--key', demoKey, '--domain', 'p0', 'vnf update demo-fw --config default=accept');
  await page.waitForFunction((b) => Number(document.querySelector('#height').textContent) > b, before, { timeout: 15000 });
});

await step('phone width: the main views render without sideways scrolling', async () => {
  const p3 = await browserCtx.newPage();
  await p3.setViewportSize({ width: 390, height: 844 });
  for (const [hash, sel, name] of [['#/services', '#services figure.sfc', 'phone-services'],
    ['#/object/sfc/web', '#timeline li.executed', 'phone-history'], ['#/build', '#b-kind', 'phone-builder']]) {
    await p3.goto(`${URL0}/${hash}`);
    await waitReady(p3);
    await p3.waitForSelector(sel);
    const w = await p3.evaluate(() => document.documentElement.scrollWidth);
    check(w <= 391, `${hash} is ${w} px wide at 390`);
    await shot(name, p3);
  }
  await p3.close();
});

await step('fail-over: with node p0 stopped, the portal follows and forwards through the others', async () => {
  bsec('devnet', 'stop', '--dir', DIR, '--node', '0');
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await builderSet('#b-kind', 'vnf');
  await builderSet('#b-verb', 'update');
  await page.fill('#b-name', 'fw1');
  await page.fill('#b-ck-0', 'default');
  await page.fill('#b-cv-0', 'accept');
  await page.waitForSelector('#b-allowed');
  await page.click('#b-submit');
  await page.waitForSelector('#b-submitted', { timeout: 30000 });
  const id = await page.getAttribute('#b-submitted', 'data-id');
  check(!/node p0/.test(await page.textContent('#b-submitted')), 'forwarded to another node than p0');
  result.update_request = id;
  await go('#/object/vnf/fw1');
  await page.waitForSelector(`#timeline li.executed[data-request="${id}"] [data-verified="yes"]`, { timeout: 45000 });
  check((await page.textContent('#obj-status')).includes('active'), 'fw1 active again');
  check((await page.textContent('#object dd.mono')).includes('default=accept'), 'the new spec is in effect');
});

await step('a request no block took within the timestamp window is shown as not committed, never executed', async () => {
  // p0 is down (fail-over); with p1 down too no quorum is left, so the
  // request waits in the pools of p2 and p3
  bsec('devnet', 'stop', '--dir', DIR, '--node', '1');
  await go('#/build');
  await page.waitForSelector('#b-kind');
  await builderSet('#b-kind', 'vnf');
  await builderSet('#b-verb', 'create');
  await page.fill('#b-name', 'late1');
  await builderSet('#b-type', 'monitor');
  while (await page.$('#b-cdel-0')) await page.click('#b-cdel-0');
  await page.waitForSelector('#b-allowed');
  // signed with the browser's clock 55 s behind: still inside the 60 s
  // window when it is sent, outside it for any block made 6 s later
  await page.evaluate(() => { window.realNow = Date.now; Date.now = () => window.realNow.call(Date) - 55000; });
  try {
    await page.click('#b-submit');
    await page.waitForSelector('#b-submitted', { timeout: 30000 });
  } finally {
    await page.evaluate(() => { Date.now = window.realNow; });
  }
  const id = await page.getAttribute('#b-submitted', 'data-id');
  result.lost_request = id;
  await go('#/services');
  await page.waitForSelector('#inflight li');
  check(!(await page.$('#inflight li.lost')), 'not lost while it can still be taken');
  await new Promise((r) => setTimeout(r, 6000));
  bsec('devnet', 'start', '--dir', DIR, '--node', '0');
  bsec('devnet', 'start', '--dir', DIR, '--node', '1');
  // another tenant's request moves the chain on
  bsec('request', '--dir', DIR, '--key', demoKey, '--domain', 'p0', 'vnf create mover1 --type monitor', '--timeout', '60000');
  const sel = `#inflight li.lost[data-request="${id}"]`;
  await page.waitForSelector(sel, { timeout: 30000 });
  const txt = await page.textContent(sel);
  check(/not committed/.test(txt) && /nothing was executed/.test(txt), `lost item: ${txt}`);
  await shot('lost-request');
  await page.click(`${sel} button`);
  check(!(await page.$(sel)), 'dismissed');
});

await step('a stale session is refused after sign-out', async () => {
  const cookies = await browserCtx.cookies(URL0);
  const c = cookies.find((x) => x.name === '__Host-bsec');
  check(c && c.httpOnly && c.secure && c.sameSite === 'Strict', `cookie flags: ${JSON.stringify(c)}`);
  await page.click('#signout');
  await page.waitForSelector('#k-signin');
  await browserCtx.addCookies([c]);
  const r = await pageFetch(page, 'GET', '/api/objects');
  check(r.status === 401 && r.data.error === 'session_expired', `stale: ${JSON.stringify(r)}`);
});

await step('no script errors in the page', async () => {
  check(consoleErrors.length === 0, `errors: ${consoleErrors.join(' | ')}`);
});

result.elapsed_ms = Date.now() - t0;
fs.writeFileSync(path.join(OUT, 'result.json'), JSON.stringify(result, null, 2));
await browserCtx.close();
cleanup();
console.log(`portal browser test: ${result.steps.length} steps passed in ${result.elapsed_ms} ms`);
