// app.mjs — the tenant portal's single-page app.
//
// The tenant key is made or imported here with WebCrypto and kept in
// IndexedDB as a non-extractable CryptoKey: the page can sign with it but
// no script can read it out.  The only moment a private key exists in
// readable form is the backup step right after "Create a new key" (it is
// generated extractable, exported once as PKCS#8 PEM for the tenant to
// save, and replaced by a non-extractable copy), or the PEM the tenant
// pastes to import.  Requests are encoded (bsec.mjs, byte for byte the C
// encoder) and signed here; the portal only ever receives signed bytes.
//
// Views (hash routes): #/services, #/build, #/activity, #/key,
// #/object/KIND/NAME, #/tx/ID, #/block/H.  Live updates: a long poll on
// /api/events refreshes the open view when the chain moves.

import * as B from './bsec.mjs';

const $ = (sel) => document.querySelector(sel);
const app = {
  info: null, genesis: null, key: null, session: null, objects: [], openRequests: [], height: 0,
  pending: new Map(), // request id -> {instruction, domain, kind, name, at}
  backupPem: null, // only right after key creation, until the tenant dismisses it
};

// ---- DOM helpers -------------------------------------------------------------------

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'readOnly') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const SVGNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') el.textContent = v;
    else if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, String(v));
  }
  for (const kid of kids.flat()) if (kid) el.append(kid);
  return el;
}
function short(hexs, n = 16) {
  return hexs ? `${hexs.slice(0, n)}…` : '';
}
function when(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}
function dur(ms) {
  if (ms === undefined || ms === null) return '';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}
function badge(text, cls = text) {
  return h('span', { class: `badge ${cls}` }, text);
}
let toastTimer = null;
function toast(msg) {
  const t = $('#toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 5000);
}
function errorBox(e, id) {
  const d = e && e.data ? e.data : e || {};
  return h('div', { class: 'error-box', id, role: 'alert' },
    h('strong', {}, d.explanation || 'Refused.'),
    d.message ? h('span', {}, d.message) : null,
    d.error ? h('span', { class: 'muted' }, ` (${d.error})`) : null);
}
function setMain(title, ...kids) {
  const m = $('#main');
  m.replaceChildren(h('h1', {}, title), ...kids);
  document.title = `${title} · BSec portal`;
}

// ---- API ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, data) {
    super((data && (data.explanation || data.message)) || `HTTP ${status}`);
    this.status = status;
    this.data = data || {};
  }
}
async function api(method, path, body, raw = false) {
  const headers = {};
  if (method !== 'GET') {
    headers['X-BSec-Request'] = '1';
    if (app.session) headers['X-CSRF-Token'] = app.session.csrf;
    headers['Content-Type'] = raw ? 'application/octet-stream' : 'application/json';
  }
  const r = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await r.json();
  } catch {
    data = null;
  }
  if (!r.ok) {
    if (r.status === 401 && data && data.error === 'session_expired' && app.session) {
      app.session = null;
      renderWho();
    }
    throw new ApiError(r.status, data);
  }
  return data;
}

async function loadGenesis() {
  if (app.genesis) return app.genesis;
  const r = await fetch('/api/genesis', { cache: 'no-store' });
  const bytes = new Uint8Array(await r.arrayBuffer());
  const g = await B.parseGenesis(bytes);
  if (app.info && B.hex(g.chainId) !== app.info.chain_id)
    throw new Error('the genesis the portal serves does not hash to the chain id it reports');
  app.genesis = g;
  return g;
}

// ---- the key in IndexedDB ------------------------------------------------------------

function idb() {
  return new Promise((resolve, reject) => {
    const rq = indexedDB.open('bsec-portal', 1);
    rq.onupgradeneeded = () => rq.result.createObjectStore('keys');
    rq.onsuccess = () => resolve(rq.result);
    rq.onerror = () => reject(rq.error);
  });
}
async function idbDo(mode, fn) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction('keys', mode);
    const rq = fn(tx.objectStore('keys'));
    tx.oncomplete = () => resolve(rq && rq.result);
    tx.onerror = () => reject(tx.error);
  });
}
async function keyLoad() {
  app.key = (await idbDo('readonly', (st) => st.get('tenant'))) || null;
  return app.key;
}
async function keySave(rec) {
  if (rec.privateKey.extractable) throw new Error('refusing to store an extractable key');
  await idbDo('readwrite', (st) => st.put(rec, 'tenant'));
  app.key = rec;
}
async function keyForget() {
  await idbDo('readwrite', (st) => st.delete('tenant'));
  app.key = null;
}

async function createKey(scheme) {
  const pair = await B.generateKey(scheme, true);
  const pem = await B.exportPkcs8Pem(pair.privateKey);
  // the stored copy is non-extractable; the extractable pair is dropped
  const imp = await B.importPkcs8(pem, false);
  await keySave({ scheme, privateKey: imp.privateKey, publicRaw: B.hex(imp.publicRaw), spkiPem: imp.spkiPem,
    created_ms: Date.now(), origin: 'created' });
  app.backupPem = pem;
}
async function importKey(pem) {
  const imp = await B.importPkcs8(pem.trim(), false);
  await keySave({ scheme: imp.scheme, privateKey: imp.privateKey, publicRaw: B.hex(imp.publicRaw),
    spkiPem: imp.spkiPem, created_ms: Date.now(), origin: 'imported' });
}

// ---- session ----------------------------------------------------------------------------

async function loadSession() {
  try {
    app.session = await api('GET', '/api/session');
  } catch {
    app.session = null;
  }
  renderWho();
}
async function signIn() {
  if (!app.key) throw new Error('no key in this browser');
  const g = await loadGenesis();
  const ch = await api('POST', '/api/challenge', {});
  if (ch.chain_id !== B.hex(g.chainId)) throw new Error('the challenge is for another chain');
  const msg = B.loginMessage(g.chainId, B.unhex(ch.nonce), location.host);
  const sig = await B.sign(app.key.scheme, app.key.privateKey, msg);
  app.session = await api('POST', '/api/login', {
    scheme: B.SCHEMES[app.key.scheme].name, public_key_hex: app.key.publicRaw, nonce: ch.nonce,
    signature_hex: B.hex(sig),
  });
  renderWho();
  await refreshObjects();
}
async function signOut() {
  try {
    await api('POST', '/api/logout', {});
  } catch { /* already gone */ }
  app.session = null;
  renderWho();
  location.hash = '#/key';
}
function tenantNames() {
  return [...new Set((app.session?.grants || []).map((g) => g.name))].join(', ');
}
function myDomains() {
  return (app.session?.grants || []).filter((g) => !g.revoked).map((g) => g.domain);
}
function renderWho() {
  const w = $('#who');
  if (!app.session) {
    w.replaceChildren(h('span', {}, app.key ? 'Not signed in' : 'No key yet'));
    return;
  }
  w.replaceChildren(h('span', { id: 'who-name' }, `Signed in as ${tenantNames() || 'tenant'}`),
    h('span', { class: 'mono' }, short(app.session.public_key_hex, 8)),
    h('button', { class: 'small', id: 'signout', onclick: signOut }, 'Sign out'));
}

// ---- chain bar and live updates ------------------------------------------------------------

function renderChainBar(ev) {
  const i = app.info;
  if (!i) return;
  const synced = ev ? ev.synced : i.synced;
  const nh = ev ? ev.node_height : i.node_height;
  $('#chainbar').replaceChildren(
    h('span', {}, `Consortium ${i.name} · block `), h('span', { id: 'height' }, String(app.height)),
    synced ? ' · in sync' : ` · catching up (node at ${nh})`,
    h('span', { class: 'muted' }, ` · chain id ${short(i.chain_id, 12)}`));
}
async function refreshObjects() {
  if (!app.session) return;
  const r = await api('GET', '/api/objects');
  app.objects = r.objects;
  app.openRequests = r.open_requests;
  app.height = Math.max(app.height, r.height);
  // a pending submission is done once the chain has it
  for (const o of app.openRequests) app.pending.delete(o.id);
}
async function liveLoop() {
  let backoff = 500;
  for (;;) {
    if (!app.session) {
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    try {
      const ev = await api('GET', `/api/events?since=${app.height}`);
      backoff = 500;
      if (ev.height > app.height) {
        app.height = ev.height;
        await onChainMoved(ev);
      }
      renderChainBar(ev);
    } catch (e) {
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 8000);
    }
  }
}
// A block takes a tx only if their timestamps are at most the genesis
// window apart, and block timestamps only grow: once the portal's latest
// block (as of `ev`, read before the tx was looked up) is more than the
// window past a submission that is in none of the blocks up to it, no
// later block can take it either.  The nodes drop it from their pools.
function lostForGood(p, ev) {
  return !!(ev && ev.tip_ts && app.info && p.ts + app.info.timestamp_window_ms < ev.tip_ts);
}
async function onChainMoved(ev) {
  const before = new Set(app.pending.keys());
  await refreshObjects();
  // requests whose record now exists are no longer "submitted"
  for (const id of before) {
    const p = app.pending.get(id);
    if (!p || p.lost) continue;
    try {
      // the portal answers only for txs in its own index of checked
      // blocks: any answer but its 404 means committed, whatever a node says
      await api('GET', `/api/tx/${id}`);
      app.pending.delete(id);
    } catch (e) {
      // 404 not_found: the portal has not seen it committed (yet)
      if (e.status === 404 && lostForGood(p, ev)) p.lost = true;
      else if (e.status === 502) app.pending.delete(id); // the portal has it; a node does not
    }
  }
  const v = currentView();
  if (v.live) await v.live();
}

// ---- router ---------------------------------------------------------------------------------

const routes = [
  [/^#\/services$/, viewServices],
  [/^#\/build$/, viewBuild],
  [/^#\/activity$/, viewActivity],
  [/^#\/key$/, viewKey],
  [/^#\/object\/(vm|vnf|sfc)\/([a-z0-9][a-z0-9-]{0,31})$/, viewObject],
  [/^#\/tx\/([0-9a-f]{64})$/, viewTx],
  [/^#\/block\/([0-9]{1,19})$/, viewBlock],
];
let view = { live: null };
function currentView() {
  return view;
}
async function route() {
  let hash = location.hash || '';
  if (!hash.startsWith('#/') || hash === '#/') hash = app.session ? '#/services' : '#/key';
  for (const a of document.querySelectorAll('nav a'))
    if (a.getAttribute('href') === hash) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  view = { live: null };
  for (const [re, fn] of routes) {
    const m = hash.match(re);
    if (m) {
      if (!app.session && fn !== viewKey) {
        setMain('Sign in first', h('p', {}, 'Sign in with your tenant key to see this page. ',
          h('a', { href: '#/key' }, 'Go to Key & sign-in')));
        return;
      }
      try {
        await fn(...m.slice(1));
      } catch (e) {
        setMain('Something went wrong', errorBox(e.data ? e : { message: String(e.message || e) }));
      }
      return;
    }
  }
  setMain('Not found', h('p', {}, 'No such page. ', h('a', { href: '#/services' }, 'Back to services')));
}
function focusMain() {
  $('#main').focus({ preventScroll: true });
}

// ---- key & sign-in view -------------------------------------------------------------------

async function viewKey() {
  renderWho();
  const status = h('div', { id: 'k-status', 'aria-live': 'polite' });
  const parts = [];
  if (app.backupPem) {
    const pem = app.backupPem;
    parts.push(h('section', { class: 'card note', 'aria-labelledby': 'k-backup-h' },
      h('h2', { id: 'k-backup-h' }, 'Back up your new private key now'),
      h('p', {}, 'This is the only time the private key can be read. Save it somewhere safe (a password ',
        'manager, an encrypted disk). The browser keeps a copy that can sign but cannot be exported. ',
        'Without a backup, losing this browser profile loses the key: your provider would then have to ',
        'revoke it and register a new one.'),
      h('label', { for: 'k-backup' }, 'Private key (PKCS#8 PEM)'),
      h('textarea', { id: 'k-backup', readOnly: true, rows: 5, value: pem }),
      h('div', { class: 'actions' },
        h('button', { id: 'k-download', class: 'secondary', onclick: () => download('bsec-tenant-key.pem', pem) },
          'Download the backup'),
        h('button', { id: 'k-backup-done', onclick: () => { app.backupPem = null; route(); } },
          'I saved it — hide it'))));
  }
  if (!app.key) {
    const scheme = h('select', { id: 'k-scheme' },
      h('option', { value: '1' }, 'Ed25519 (recommended)'), h('option', { value: '2' }, 'ECDSA P-256'));
    const pemIn = h('textarea', { id: 'k-import-pem', rows: 5, placeholder: '-----BEGIN PRIVATE KEY-----' });
    const file = h('input', { id: 'k-import-file', type: 'file', accept: '.pem,.key,.txt' });
    file.addEventListener('change', async () => {
      if (file.files[0]) pemIn.value = await file.files[0].text();
    });
    parts.push(h('div', { class: 'grid two' },
      h('section', { class: 'card', 'aria-labelledby': 'k-new-h' },
        h('h2', { id: 'k-new-h' }, 'Create a new key'),
        h('p', {}, 'The key is made in this browser. Give its public half to your provider to be registered.'),
        h('label', { for: 'k-scheme' }, 'Signature scheme'), scheme,
        h('div', { class: 'actions' }, h('button', {
          id: 'k-create',
          onclick: async () => {
            try {
              await createKey(Number(scheme.value));
              toast('Key created. Back it up now.');
              await route();
              $('#k-backup')?.focus();
            } catch (e) {
              status.replaceChildren(errorBox({ message: String(e.message || e) }));
            }
          },
        }, 'Create key'))),
      h('section', { class: 'card', 'aria-labelledby': 'k-imp-h' },
        h('h2', { id: 'k-imp-h' }, 'Import a key'),
        h('label', { for: 'k-import-pem' }, 'PKCS#8 private key (PEM)',
          h('span', { class: 'hint' }, ' — e.g. made with `bsec keygen`')), pemIn,
        h('label', { for: 'k-import-file' }, 'or a PEM file'), file,
        h('div', { class: 'actions' }, h('button', {
          id: 'k-import',
          onclick: async () => {
            try {
              await importKey(pemIn.value);
              pemIn.value = '';
              toast('Key imported.');
              await route();
            } catch (e) {
              status.replaceChildren(errorBox({ explanation: 'This is not a key the portal can use.',
                message: String(e.message || e) }));
            }
          },
        }, 'Import key')))));
  } else {
    const k = app.key;
    parts.push(h('section', { class: 'card', 'aria-labelledby': 'k-cur-h' },
      h('h2', { id: 'k-cur-h' }, 'Your key'),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Scheme'), h('dd', { id: 'k-scheme-name' }, B.SCHEMES[k.scheme].name),
        h('dt', {}, 'Public key'), h('dd', { class: 'hash', id: 'k-public-hex' }, k.publicRaw),
        h('dt', {}, 'Kept'), h('dd', {}, `in this browser since ${when(k.created_ms)} (${k.origin}); not exportable`)),
      h('label', { for: 'k-public' }, 'Public key to give your provider (SubjectPublicKeyInfo PEM)'),
      h('textarea', { id: 'k-public', readOnly: true, rows: 4, value: k.spkiPem }),
      h('div', { class: 'actions' },
        h('button', { class: 'secondary', id: 'k-public-download', onclick: () => download('bsec-tenant.pub.pem', k.spkiPem) },
          'Download public key'),
        app.session
          ? h('button', { id: 'k-signout', class: 'secondary', onclick: signOut }, 'Sign out')
          : h('button', {
            id: 'k-signin',
            onclick: async (ev) => {
              ev.target.disabled = true;
              status.replaceChildren(h('p', {}, 'Signing in…'));
              try {
                await signIn();
                status.replaceChildren(h('p', { class: 'verdict ok' }, `Signed in as ${tenantNames()}.`));
                location.hash = '#/services';
              } catch (e) {
                ev.target.disabled = false;
                status.replaceChildren(errorBox(e.data ? e : { message: String(e.message || e) }, 'signin-error'));
              }
            },
          }, 'Sign in with this key'),
        h('button', {
          id: 'k-forget', class: 'danger',
          onclick: (ev) => {
            const b = ev.target;
            if (b.dataset.armed !== '1') {
              b.dataset.armed = '1';
              b.textContent = 'Really remove the key from this browser?';
              return;
            }
            keyForget().then(() => (app.session ? signOut() : route()));
          },
        }, 'Remove key from this browser'))));
    if (app.session) {
      const grants = app.session.grants;
      parts.push(h('section', { class: 'card', 'aria-labelledby': 'k-grants-h' },
        h('h2', { id: 'k-grants-h' }, 'Your agreements (from the chain)'),
        h('div', { class: 'table-wrap' }, h('table', {},
          h('thead', {}, h('tr', {}, ['Domain', 'Name', 'Operations', 'Quotas (VMs/VNFs/SFCs/chain)', 'Rate/min', 'State']
            .map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, grants.map((g) => h('tr', {},
            h('td', {}, g.domain), h('td', {}, g.name), h('td', { class: 'mono' }, g.ops),
            h('td', {}, [g.max_vms, g.max_vnfs, g.max_sfcs, g.max_chain].map((x) => x || '∞').join(' / ')),
            h('td', {}, g.rate_per_min || '∞'),
            h('td', {}, g.revoked ? badge('revoked', 'bad') : badge('active')))))))));
    }
  }
  setMain('Key & sign-in', ...parts, status);
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/x-pem-file' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---- services view ----------------------------------------------------------------------------

function objectLink(kind, name) {
  return h('a', { href: `#/object/${kind}/${name}` }, name);
}

function sfcDiagram(sfc, vnfs) {
  const chain = sfc.chain || [];
  const perRow = 4, bw = 130, bh = 56, gapx = 40, gapy = 44, pad = 12, endw = 70;
  const rows = Math.max(1, Math.ceil(chain.length / perRow));
  const cols = Math.min(chain.length, perRow);
  const width = pad * 2 + endw * 2 + gapx * 2 + cols * bw + Math.max(0, cols - 1) * gapx;
  const height = pad * 2 + rows * bh + (rows - 1) * gapy;
  const svg = s('svg', { class: 'diagram', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `Service chain ${sfc.name}: traffic${sfc.match && Object.keys(sfc.match).length ? ' matching ' + Object.entries(sfc.match).map(([k, v]) => `${k}=${v}`).join(', ') : ''} goes through ${chain.join(', then ')}` });
  svg.append(s('defs', {}, s('marker', { id: `arrow-${sfc.name}`, viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'head' }))));
  const marker = `url(#arrow-${sfc.name})`;
  const pos = (i) => {
    const r = Math.floor(i / perRow), c = i % perRow;
    return { x: pad + endw + gapx + c * (bw + gapx), y: pad + r * (bh + gapy) };
  };
  const y0 = pad + bh / 2;
  const match = sfc.match && Object.keys(sfc.match).length ? Object.entries(sfc.match).map(([k, v]) => `${k}=${v}`).join(', ') : 'all traffic';
  svg.append(s('rect', { x: pad, y: pad, width: endw, height: bh, rx: 28, class: 'end' }),
    s('text', { x: pad + endw / 2, y: y0 + 5, 'text-anchor': 'middle', text: 'in' }));
  let prev = { x: pad + endw, y: y0 };
  chain.forEach((name, i) => {
    const p = pos(i);
    const v = vnfs.find((o) => o.kind === 'vnf' && o.name === name);
    const cls = v ? v.status : 'missing';
    const cy = p.y + bh / 2;
    if (prev.y === cy) {
      svg.append(s('path', { d: `M${prev.x},${prev.y} L${p.x - 2},${cy}`, class: 'edge', 'marker-end': marker }));
    } else {
      const midy = prev.y + bh / 2 + gapy / 2;
      svg.append(s('path', { d: `M${prev.x - bw / 2},${prev.y + bh / 2} L${prev.x - bw / 2},${midy} L${p.x + bw / 2},${midy} L${p.x + bw / 2},${p.y - 2}`, class: 'edge', 'marker-end': marker }));
    }
    const g = s('g', {});
    g.append(s('rect', { x: p.x, y: p.y, width: bw, height: bh, rx: 6, class: `box ${cls}` }),
      s('text', { x: p.x + bw / 2, y: cy - 5, 'text-anchor': 'middle', text: name }),
      s('text', { x: p.x + bw / 2, y: cy + 12, 'text-anchor': 'middle', class: 'small',
        text: v ? `${v.type || 'vnf'} · ${v.domain}${v.status !== 'active' ? ' · ' + v.status : ''}` : 'not yours / missing' }));
    svg.append(g);
    prev = { x: p.x + bw, y: cy };
  });
  const last = prev;
  const ex = chain.length > perRow ? last.x + gapx : pad + endw + gapx + cols * bw + Math.max(0, cols - 1) * gapx + gapx;
  const ey = last.y;
  svg.append(s('path', { d: `M${last.x},${ey} L${ex - 2},${ey}`, class: 'edge', 'marker-end': marker }),
    s('rect', { x: ex, y: ey - bh / 2, width: endw, height: bh, rx: 28, class: 'end' }),
    s('text', { x: ex + endw / 2, y: ey + 4, 'text-anchor': 'middle', text: 'out' }));
  // keep the box inside the view box when the last row is short
  const w = Math.max(width, ex + endw + pad);
  svg.setAttribute('viewBox', `0 0 ${w} ${height}`);
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(height));
  return h('div', { class: 'diagram-wrap' }, svg,
    h('p', { class: 'muted small-note' }, `Traffic: ${match}. Path: in → ${chain.join(' → ')} → out.`));
}

function objectItem(o) {
  const state = o.pending_spec ? [badge(o.status), ' ', badge('update pending', 'pending')] : [badge(o.status)];
  return h('li', { 'data-object': `${o.kind}/${o.name}` },
    h('span', { class: 'kind' }, o.kind), h('strong', {}, objectLink(o.kind, o.name)), ...state,
    h('span', { class: 'spec mono' }, o.spec));
}

function renderServices(box) {
  const byDomain = new Map();
  for (const d of myDomains()) byDomain.set(d, []);
  for (const o of app.objects) {
    if (!byDomain.has(o.domain)) byDomain.set(o.domain, []);
    byDomain.get(o.domain).push(o);
  }
  const order = { vm: 0, vnf: 1, sfc: 2 };
  const kids = [];
  const pend = [...app.pending.entries()];
  if (pend.length || app.openRequests.length) {
    kids.push(h('section', { class: 'card', 'aria-labelledby': 'inflight-h' },
      h('h2', { id: 'inflight-h' }, 'In flight'),
      h('ul', { class: 'objects', id: 'inflight' },
        pend.map(([id, p]) => p.lost ? lostItem(id, p)
          : h('li', {}, badge('submitted'), h('code', {}, p.instruction),
            h('span', { class: 'muted' }, ` in ${p.domain}, waiting for the chain`))),
        app.openRequests.map((r) => h('li', {}, badge('committed'), h('code', {}, r.instruction),
          h('span', { class: 'muted' }, ` in ${r.domain}, block ${r.height}, waiting for the orchestrator`),
          h('a', { href: `#/object/${r.kind}/${r.name}` }, 'history'))))));
  }
  for (const [dom, list] of [...byDomain.entries()].sort()) {
    list.sort((a, b) => order[a.kind] - order[b.kind] || (a.name < b.name ? -1 : 1));
    const sfcs = list.filter((o) => o.kind === 'sfc');
    kids.push(h('section', { class: 'card', 'aria-labelledby': `dom-${dom}` },
      h('h2', { id: `dom-${dom}` }, `Domain ${dom}`),
      list.length ? h('ul', { class: 'objects' }, list.map(objectItem))
        : h('p', { class: 'muted' }, 'Nothing here yet. ', h('a', { href: '#/build' }, 'Create something')),
      sfcs.map((sfc) => h('figure', { class: 'sfc' },
        h('figcaption', {}, 'Service chain ', objectLink('sfc', sfc.name)), sfcDiagram(sfc, app.objects)))));
  }
  if (!kids.length) kids.push(h('p', {}, 'You have no agreement with any domain yet.'));
  box.replaceChildren(...kids);
}

async function viewServices() {
  await refreshObjects();
  const box = h('div', { id: 'services' });
  renderServices(box);
  setMain('Your services', box);
  view.live = async () => renderServices(box);
}

// ---- the instruction builder -----------------------------------------------------------------

const FIELD_RE = {
  name: [/^[a-z0-9][a-z0-9-]{0,31}$/, 'lower-case letters, digits and -, starting with a letter or digit, at most 32'],
  image: [/^[A-Za-z0-9._:/][A-Za-z0-9._:/-]{0,63}$/, 'letters, digits and . _ : / -, not starting with -, at most 64'],
  flavor: [/^[A-Za-z0-9._:/][A-Za-z0-9._:/-]{0,63}$/, 'letters, digits and . _ : / -, not starting with -, at most 64'],
  key: [/^[a-z0-9][a-z0-9_.-]{0,31}$/, 'lower-case letters, digits and _ . -, at most 32'],
  value: [/^[A-Za-z0-9._:/,=+@-]{1,128}$/, 'letters, digits and . _ : / , = + @ -, no spaces, at most 128'],
};
const bform = {
  kind: 'vnf', verb: 'create', domain: '', name: '', type: 'firewall', vm: '', image: '', flavor: '',
  config: [], chain: [], match: { proto: '', sport: '', dport: '', src: '', dst: '' },
};

// Per-field problems of the builder's model: {field id: message}.
function builderProblems(opts) {
  const p = {};
  const chk = (id, v, re, required) => {
    if (!v) {
      if (required) p[id] = 'required';
      return;
    }
    if (!FIELD_RE[re][0].test(v)) p[id] = `use ${FIELD_RE[re][1]}`;
  };
  chk('b-name', bform.name, 'name', true);
  if (!bform.domain) p['b-domain'] = 'choose a domain';
  if (opts.allowed.includes('image')) chk('b-image', bform.image, 'image', false);
  if (opts.allowed.includes('flavor')) chk('b-flavor', bform.flavor, 'flavor', false);
  if (opts.allowed.includes('config')) {
    const seen = new Set();
    bform.config.forEach((c, i) => {
      if (!c.key && !c.value) return;
      chk(`b-ck-${i}`, c.key, 'key', true);
      chk(`b-cv-${i}`, c.value, 'value', true);
      if (seen.has(c.key)) p[`b-ck-${i}`] = 'this setting is already given';
      seen.add(c.key);
    });
    if (opts.required.includes('config') && !bform.config.some((c) => c.key && c.value))
      p['b-config-add'] = 'give at least one setting';
  }
  if (opts.allowed.includes('chain') && !bform.chain.length) p['b-chain-pick'] = 'add at least one VNF';
  if (opts.allowed.includes('match')) {
    for (const k of ['sport', 'dport', 'src', 'dst']) {
      const v = bform.match[k];
      if (!v) continue;
      const why = /[^A-Za-z0-9._:/,=+@-]/.test(v) || v.includes(',') ? 'not a valid value' : B.checkMatchValue(k, v);
      if (why) p[`b-${k}`] = why;
    }
  }
  return p;
}

function builderText(opts) {
  const parts = [bform.kind, bform.verb, bform.name || 'NAME'];
  const A = (o) => opts.allowed.includes(o);
  if (A('type')) parts.push('--type', bform.type);
  if (A('vm') && bform.vm) parts.push('--vm', bform.vm);
  if (A('image') && bform.image) parts.push('--image', bform.image);
  if (A('flavor') && bform.flavor) parts.push('--flavor', bform.flavor);
  if (A('config')) for (const c of bform.config) if (c.key && c.value) parts.push('--config', `${c.key}=${c.value}`);
  if (A('chain') && bform.chain.length) parts.push('--chain', bform.chain.join(','));
  if (A('match')) {
    const m = B.MATCH_KEYS.filter((k) => bform.match[k]).map((k) => `${k}=${bform.match[k]}`);
    if (m.length) parts.push('--match', m.join(','));
  }
  return parts.join(' ');
}

let checkTimer = null, checkSeq = 0;

async function viewBuild() {
  await refreshObjects();
  const doms = myDomains();
  if (!bform.domain || !doms.includes(bform.domain)) bform.domain = doms[0] || '';
  const box = h('div', { id: 'builder' });
  setMain('New request', h('p', {}, 'Choose what to do; the form only lets you make valid instructions. ',
    'The request is signed in this browser with your key.'), box);
  renderBuilder(box);
  // the chain moved: refresh the name suggestions in place, never the
  // form itself (that would lose what is typed and the last result)
  view.live = async () => {
    const dl = $('#b-names');
    if (dl) dl.replaceChildren(...app.objects.filter((o) => o.kind === bform.kind).map((o) => h('option', { value: o.name })));
  };
}

function renderBuilder(box) {
  const focusId = document.activeElement && box.contains(document.activeElement) ? document.activeElement.id : null;
  const opts = B.formOptions(bform.kind, bform.verb) || B.formOptions(bform.kind, (bform.verb = 'create'));
  const mine = (kind) => app.objects.filter((o) => o.kind === kind);
  const rerender = () => renderBuilder(box);
  const field = (id, labelText, input, hint) => h('div', { class: 'field' },
    h('label', { for: id }, labelText, hint ? h('span', { class: 'hint' }, ` — ${hint}`) : null), input,
    h('p', { class: 'field-error', id: `${id}-err`, 'aria-live': 'polite' }));
  const text = (id, key, obj = bform, extra = {}) => h('input', {
    id, value: obj[key], autocomplete: 'off', spellcheck: 'false', 'aria-describedby': `${id}-err`, ...extra,
    oninput: (e) => {
      obj[key] = e.target.value.trim();
      update();
    },
  });
  const sel = (id, key, options, obj = bform, onchange) => h('select', {
    id, onchange: (e) => {
      obj[key] = e.target.value;
      if (onchange) onchange();
      else update();
    },
  }, options.map(([v, t]) => h('option', { value: v, selected: obj[key] === v }, t)));

  const kids = [];
  kids.push(h('fieldset', {}, h('legend', {}, 'What'),
    h('div', { class: 'row' },
      field('b-kind', 'Object', sel('b-kind', 'kind', [['vm', 'Virtual machine (vm)'], ['vnf', 'Network function (vnf)'], ['sfc', 'Service chain (sfc)']], bform, () => {
        if (!B.verbsOf(bform.kind).includes(bform.verb)) bform.verb = 'create';
        rerender();
      })),
      field('b-verb', 'Action', sel('b-verb', 'verb', B.verbsOf(bform.kind).map((v) => [v, v]), bform, rerender)),
      field('b-domain', 'Domain', sel('b-domain', 'domain', myDomains().map((d) => [d, d]))))));
  const nameList = h('datalist', { id: 'b-names' }, mine(bform.kind).map((o) => h('option', { value: o.name })));
  kids.push(h('fieldset', {}, h('legend', {}, 'Which'),
    field('b-name', 'Name', text('b-name', 'name', bform, { list: 'b-names', required: true }),
      bform.verb === 'create' ? 'a new name, e.g. fw-1' : 'one of yours'), nameList));
  const A = (o) => opts.allowed.includes(o);
  const details = [];
  if (A('type')) details.push(field('b-type', 'VNF type', sel('b-type', 'type', B.VNF_TYPES.map((t) => [t, t]))));
  if (A('vm')) details.push(field('b-vm', 'Runs on VM', sel('b-vm', 'vm', [['', '(its own)'], ...mine('vm').filter((v) => v.domain === bform.domain && v.status === 'active').map((v) => [v.name, v.name])])));
  if (A('image')) details.push(field('b-image', 'Image', text('b-image', 'image'), 'optional'));
  if (A('flavor')) details.push(field('b-flavor', 'Flavor', text('b-flavor', 'flavor'), 'optional'));
  if (details.length) kids.push(h('fieldset', {}, h('legend', {}, 'Details'), h('div', { class: 'row' }, details)));
  if (A('config')) {
    if (opts.required.includes('config') && !bform.config.length) bform.config.push({ key: '', value: '' });
    kids.push(h('fieldset', {}, h('legend', {}, 'Settings (--config KEY=VALUE)'),
      bform.config.map((c, i) => h('div', { class: 'row' },
        field(`b-ck-${i}`, `Setting ${i + 1} key`, text(`b-ck-${i}`, 'key', c)),
        field(`b-cv-${i}`, 'value', text(`b-cv-${i}`, 'value', c)),
        h('button', { class: 'secondary small', id: `b-cdel-${i}`, 'aria-label': `Remove setting ${i + 1}`,
          onclick: () => { bform.config.splice(i, 1); rerender(); } }, 'Remove'))),
      h('button', { class: 'secondary small', id: 'b-config-add', 'aria-describedby': 'b-config-add-err',
        onclick: () => { bform.config.push({ key: '', value: '' }); rerender(); $(`#b-ck-${bform.config.length - 1}`)?.focus(); } },
      'Add a setting'), h('p', { class: 'field-error', id: 'b-config-add-err' })));
  }
  if (A('chain')) {
    // the chain rule: a VNF is chained once its create was executed
    const avail = mine('vnf').filter((v) => v.status === 'active' && !bform.chain.includes(v.name));
    const pick = h('select', { id: 'b-chain-pick', 'aria-describedby': 'b-chain-pick-err' },
      avail.length ? avail.map((v) => h('option', { value: v.name }, `${v.name} (${v.type || 'vnf'}, ${v.domain}, ${v.status})`))
        : h('option', { value: '' }, 'no more active VNFs of yours'));
    kids.push(h('fieldset', {}, h('legend', {}, 'Chain: the VNFs traffic goes through, in order'),
      h('ol', { class: 'chain-list', id: 'b-chain' }, bform.chain.map((n, i) => h('li', {},
        h('span', {}, n),
        h('button', { class: 'secondary small', id: `b-up-${i}`, disabled: i === 0, 'aria-label': `Move ${n} earlier`,
          onclick: () => { [bform.chain[i - 1], bform.chain[i]] = [bform.chain[i], bform.chain[i - 1]]; rerender(); } }, '↑'),
        h('button', { class: 'secondary small', id: `b-down-${i}`, disabled: i === bform.chain.length - 1, 'aria-label': `Move ${n} later`,
          onclick: () => { [bform.chain[i + 1], bform.chain[i]] = [bform.chain[i], bform.chain[i + 1]]; rerender(); } }, '↓'),
        h('button', { class: 'secondary small', id: `b-rm-${i}`, 'aria-label': `Remove ${n} from the chain`,
          onclick: () => { bform.chain.splice(i, 1); rerender(); } }, 'Remove')))),
      h('div', { class: 'row' }, field('b-chain-pick', 'Add a VNF', pick),
        h('button', { class: 'secondary', id: 'b-chain-add', disabled: !avail.length,
          onclick: () => { if (pick.value) { bform.chain.push(pick.value); rerender(); $('#b-chain-pick')?.focus(); } } }, 'Add to chain'))));
  }
  if (A('match')) {
    kids.push(h('fieldset', {}, h('legend', {}, 'Which traffic (optional; all traffic when empty)'),
      h('div', { class: 'row' },
        field('b-proto', 'Protocol', sel('b-proto', 'proto', [['', 'any'], ...B.MATCH_PROTOS.map((p) => [p, p])], bform.match)),
        field('b-sport', 'Source port', text('b-sport', 'sport', bform.match, { inputmode: 'numeric' }), 'e.g. 1024-65535'),
        field('b-dport', 'Destination port', text('b-dport', 'dport', bform.match, { inputmode: 'numeric' }), 'e.g. 80'),
        field('b-src', 'Source', text('b-src', 'src', bform.match), 'address or prefix'),
        field('b-dst', 'Destination', text('b-dst', 'dst', bform.match), 'address or prefix'))));
  }
  const preview = h('output', { id: 'b-preview', class: 'preview mono', for: 'b-name', 'aria-live': 'polite' });
  const err = h('p', { id: 'b-error', class: 'field-error', 'aria-live': 'polite' });
  const verdict = h('div', { id: 'b-verdict', 'aria-live': 'polite' });
  const submit = h('button', { id: 'b-submit', type: 'button', onclick: () => submitBuilt(opts) }, 'Sign and submit');
  const result = h('div', { id: 'b-result', 'aria-live': 'polite' });
  kids.push(h('section', { class: 'card', 'aria-labelledby': 'b-prev-h' },
    h('h2', { id: 'b-prev-h' }, 'Instruction'), preview, err, verdict, h('div', { class: 'actions' }, submit), result));
  box.replaceChildren(...kids);
  if (focusId && document.getElementById(focusId)) document.getElementById(focusId).focus();

  function update() {
    const probs = builderProblems(opts);
    for (const el of box.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const el of box.querySelectorAll('.field-error')) el.textContent = '';
    for (const [id, msg] of Object.entries(probs)) {
      const el = document.getElementById(id);
      if (el && id !== 'b-config-add') el.setAttribute('aria-invalid', 'true');
      const e = document.getElementById(`${id}-err`);
      if (e) e.textContent = msg;
    }
    const textv = builderText(opts);
    const parsed = B.parseInstruction(textv);
    const ok = !Object.keys(probs).length && parsed.ok;
    preview.textContent = parsed.ok ? parsed.canonical : textv;
    err.textContent = Object.keys(probs).length ? 'Fix the marked fields.' : parsed.ok ? '' : parsed.message;
    submit.disabled = !ok;
    submit.dataset.instruction = ok ? parsed.canonical : '';
    verdict.replaceChildren();
    clearTimeout(checkTimer);
    if (ok) {
      const seq = ++checkSeq;
      verdict.replaceChildren(h('p', { class: 'verdict wait' }, 'Checking against your agreement…'));
      checkTimer = setTimeout(async () => {
        try {
          const r = await api('POST', '/api/check', { domain: bform.domain, instruction: parsed.canonical });
          if (seq !== checkSeq) return;
          verdict.replaceChildren(r.allowed
            ? h('p', { class: 'verdict ok', id: 'b-allowed' }, 'Allowed by your agreement and the chain as it is now.')
            : h('div', { class: 'verdict bad', id: 'b-denied' }, h('strong', {}, r.explanation || 'Not allowed.'), ' ', r.message));
        } catch (e) {
          if (seq === checkSeq) verdict.replaceChildren(errorBox(e));
        }
      }, 250);
    }
  }
  update();
}

// A submission no block can take any more (lostForGood): said so, with
// a way to clear it; nothing was executed.
function lostItem(id, p) {
  const secs = Math.round(app.info.timestamp_window_ms / 1000);
  const li = h('li', { class: 'lost', 'data-request': id }, badge('not committed', 'bad'), ' ',
    h('code', {}, p.instruction),
    h('span', {}, ` in ${p.domain}, signed ${when(p.at)}: no block took it within ${secs} s of its signature, `
      + 'so none can now; the nodes dropped it and nothing was executed. Submit it again if you still want it. '),
    h('button', { class: 'small', onclick: () => { app.pending.delete(id); li.remove(); } }, 'Dismiss'));
  return li;
}

async function submitBuilt(opts) {
  const btn = $('#b-submit'), result = $('#b-result');
  const instruction = btn.dataset.instruction;
  if (!instruction || !app.key) return;
  btn.disabled = true;
  result.replaceChildren(h('p', {}, 'Signing…'));
  try {
    const g = await loadGenesis();
    const ts = Date.now();
    const { raw, id } = await B.buildRequest({ chainId: g.chainId, scheme: app.key.scheme, privateKey: app.key.privateKey,
      publicRaw: B.unhex(app.key.publicRaw), domain: bform.domain, instruction, timestamp_ms: ts });
    const idh = B.hex(id);
    const r = await api('POST', '/api/submit', raw, true);
    const parsed = B.parseInstruction(instruction).instr;
    const kind = ['', 'vm', 'vnf', 'sfc'][parsed.kind];
    app.pending.set(idh, { instruction, domain: bform.domain, kind, name: parsed.name, at: Date.now(), ts });
    result.replaceChildren(h('div', { class: 'verdict ok', id: 'b-submitted', 'data-id': idh },
      h('strong', {}, 'Submitted. '), `Request ${short(idh)} was checked and sent to node ${r.node}. `,
      h('a', { href: `#/object/${kind}/${parsed.name}`, id: 'b-follow' }, `Follow ${kind} ${parsed.name}`)));
    $('#b-follow').focus();
  } catch (e) {
    result.replaceChildren(errorBox(e.data ? e : { message: String(e.message || e) }, 'b-refusal'));
    btn.disabled = false;
  }
}

// ---- object history -----------------------------------------------------------------------------

function recordItem(r) {
  const state = r.state;
  const resp = r.response;
  const steps = h('div', { class: 'steps' },
    h('span', {}, `Signed ${when(r.signed_ms)}`), h('span', { class: 'arrow', 'aria-hidden': 'true' }, '→'),
    h('span', {}, 'Committed in ', h('a', { href: `#/block/${r.height}` }, `block ${r.height}`), ` (+${dur(r.commit_latency_ms)})`),
    h('span', { class: 'arrow', 'aria-hidden': 'true' }, '→'),
    resp ? h('span', { class: 'outcome' }, `${state === 'executed' ? 'Executed' : 'Failed'} by ${resp.executor || '?'}'s orchestrator in ${dur(r.exec_ms)}`,
      ` (total ${dur(r.total_ms)})`) : h('span', {}, 'waiting for the orchestrator'));
  const kids = [
    h('div', {}, badge(state), ' ', h('strong', {}, r.verb), ' ', h('code', {}, r.instruction), h('span', { class: 'muted' }, ` in ${r.domain}`)),
    steps,
  ];
  if (resp) {
    kids.push(h('p', {}, resp.status === 'ok' ? h('span', {}, 'Result: ', h('span', { class: 'result' }, resp.result || '(none)'))
      : h('span', { class: 'field-error' }, 'Error: ', resp.error)));
    const el = h('p', { class: 'sig', id: `sig-${resp.id.slice(0, 16)}`, 'data-verified': 'pending' },
      `Response ${short(resp.id)} signed by ${resp.executor}'s orchestrator: checking the signature…`);
    const known = verified.get(verifyKey(r));
    if (known) showVerified(el, known, r);
    kids.push(el);
  }
  kids.push(h('p', { class: 'muted' }, h('a', { href: `#/tx/${r.id}` }, `request tx ${short(r.id, 12)}`),
    resp ? [' · ', h('a', { href: `#/tx/${resp.id}` }, `response tx ${short(resp.id, 12)}`)] : null));
  return h('li', { class: state, 'data-request': r.id }, kids);
}

// request, response and domain -> {right, ok, text, provider, id}: a
// response is checked once for the request it is shown under (a portal
// could show one genuine response under another request); ok and text
// are the outcome its signed bytes hold
const verified = new Map();
const verifyKey = (r) => `${r.id} ${r.response.id} ${r.domain}`;

// The badge covers what the page shows of the response: its signature,
// and that the outcome shown (r, from the portal: the state, who executed
// it, the status and its result or error) is the signed one.
function showVerified(el, v, r) {
  const resp = r.response;
  const shownOk = resp.status === 'ok';
  const shownText = (shownOk ? resp.result : resp.error) || '';
  const same = v.ok === shownOk && v.text === shownText && r.state === (v.ok ? 'executed' : 'failed')
    && resp.executor === v.provider;
  const signed = `${v.ok ? 'executed' : 'failed'}, ${v.ok ? 'result' : 'error'} “${v.text || '(none)'}”`;
  el.dataset.verified = !v.right ? 'no' : same ? 'yes' : 'mismatch';
  if (!v.right) {
    el.replaceChildren(h('span', { class: 'badge bad' }, '✗ signature does not verify'),
      ` Response ${short(v.id)} is not signed by the orchestrator key of ${v.provider || 'the domain\'s provider'}.`);
  } else if (!same) {
    el.replaceChildren(h('span', { class: 'badge bad' }, '✗ outcome shown does not match the signed response'),
      ` Response ${short(v.id)} is signed by the orchestrator key of ${v.provider}, and it says: ${signed}.`);
  } else {
    el.replaceChildren(h('span', { class: 'badge ok' }, '✓ signature verified'),
      ` Response ${short(v.id)} is signed by the orchestrator key of ${v.provider} in the genesis: ${signed}.`);
  }
}

async function verifyResponses(list) {
  const g = await loadGenesis();
  for (const r of list) {
    if (!r.response) continue;
    let v = verified.get(verifyKey(r));
    if (!v) {
      try {
        const t = await api('GET', `/api/tx/${r.response.id}`);
        const c = await B.checkTxSignature(g, t.tx.raw_hex);
        const prov = g.providers.find((p) => p.domains.includes(r.domain));
        const right = c.ok && !!prov && c.orchestrator === prov.name && B.hex(c.tx.request_id) === r.id;
        const ok = c.tx.status === 0;
        v = { right, ok, text: ok ? c.tx.result : c.tx.error, provider: prov ? prov.name : null, id: r.response.id };
        verified.set(verifyKey(r), v);
      } catch (e) {
        const el = document.getElementById(`sig-${r.response.id.slice(0, 16)}`);
        if (el) el.textContent = `Could not check the response signature: ${e.message}`;
        continue;
      }
    }
    const el = document.getElementById(`sig-${r.response.id.slice(0, 16)}`);
    if (el) showVerified(el, v, r);
  }
}

async function viewObject(kind, name) {
  const box = h('div', { id: 'object' });
  setMain(`${kind} ${name}`, box);
  const load = async () => {
    let r;
    try {
      r = await api('GET', `/api/objects/${kind}/${name}`);
    } catch (e) {
      box.replaceChildren(errorBox(e, 'object-error'));
      return;
    }
    const o = r.object;
    const pend = [...app.pending.entries()].filter(([, p]) => p.kind === kind && p.name === name);
    const kids = [];
    kids.push(h('section', { class: 'card' },
      o ? h('dl', { class: 'kv' },
        h('dt', {}, 'Status'), h('dd', { id: 'obj-status' }, badge(o.status), o.pending_spec ? [' ', badge('update pending', 'pending')] : null),
        h('dt', {}, 'Domain'), h('dd', {}, o.domain),
        h('dt', {}, 'Defined by'), h('dd', { class: 'mono' }, o.spec),
        o.pending_spec ? [h('dt', {}, 'Pending'), h('dd', { class: 'mono' }, o.pending_spec)] : null)
        : h('p', { id: 'obj-status' }, 'This object does not exist (any more); its history is below.'),
      o && o.kind === 'sfc' ? sfcDiagram(o, app.objects) : null));
    kids.push(h('h2', {}, 'History'));
    const items = [...r.history.map(recordItem),
      ...pend.map(([id, p]) => p.lost ? lostItem(id, p)
        : h('li', { class: 'submitted', 'data-request': id }, badge('submitted'), ' ',
          h('code', {}, p.instruction), h('span', { class: 'muted' }, ` signed ${when(p.at)}, waiting to be committed`)))];
    kids.push(items.length ? h('ol', { class: 'timeline', id: 'timeline' }, items) : h('p', {}, 'No requests yet.'));
    box.replaceChildren(...kids);
    verifyResponses(r.history);
  };
  await load();
  view.live = load;
}

// ---- activity -------------------------------------------------------------------------------------

async function viewActivity() {
  const box = h('div', { id: 'activity' });
  setMain('Activity', box);
  const load = async () => {
    const r = await api('GET', '/api/requests?limit=100');
    box.replaceChildren(r.requests.length
      ? h('ol', { class: 'timeline' }, r.requests.map((x) => h('li', { class: x.state },
        badge(x.state), ' ', h('a', { href: `#/object/${x.kind}/${x.name}` }, `${x.kind} ${x.name}`), ' ',
        h('code', {}, x.instruction), h('span', { class: 'muted' }, ` block ${x.height}, ${when(x.signed_ms)}`))))
      : h('p', {}, 'No requests yet.'));
  };
  await load();
  view.live = load;
}

// ---- tx and block views -----------------------------------------------------------------------------

function checksList(res, id) {
  return h('div', {},
    h('p', { id, class: `verdict ${res.ok ? 'ok' : 'bad'}`, 'data-ok': res.ok ? 'yes' : 'no' },
      res.ok ? '✓ Verified in this browser against the genesis.' : '✗ Verification failed.'),
    h('ul', { class: 'checks' }, res.steps.map((st) => h('li', { class: st.ok ? 'yes' : 'no' }, st.what,
      st.detail ? h('span', { class: 'muted mono' }, ` — ${st.detail}`) : null))));
}

async function viewTx(id) {
  const box = h('div', { id: 'tx' });
  setMain(`Transaction ${short(id, 12)}`, box);
  const t = await api('GET', `/api/tx/${id}`);
  const g0 = await loadGenesis();
  // show only what the signed bytes hold, and only for the tx asked for:
  // every other field of the reply is the node's word
  const d = B.decodeTx(B.unhex(t.tx.raw_hex));
  if (B.hex(await B.txId(g0.chainId, d.content)) !== id)
    throw new Error(`node ${t.node} answered with another tx than ${short(id)}`);
  const TYPES = ['', 'request', 'response', 'tenant', 'attest'];
  const tx = { ...t.tx, type: TYPES[d.type] || String(d.type), timestamp_ms: d.timestamp_ms, scheme: B.SCHEMES[d.scheme].name,
    sender_hex: B.hex(d.sender), domain: d.domain, instruction: d.instruction,
    request_id: d.request_id && B.hex(d.request_id), status: d.status === 0 ? 'ok' : d.status === undefined ? undefined : 'error',
    result: d.result, error: d.error, size: B.unhex(t.tx.raw_hex).length, signature_hex: B.hex(d.signature) };
  const rows = [['id', h('span', { class: 'hash' }, id)], ['type', tx.type], ['role', t.role || ''],
    ['block', h('a', { href: `#/block/${t.height}` }, String(t.height))], ['position', String(t.index)],
    ['signed at', when(tx.timestamp_ms)], ['scheme', tx.scheme], ['sender', h('span', { class: 'hash' }, tx.sender_hex)]];
  if (tx.type === 'request') rows.push(['domain', tx.domain], ['instruction', h('code', {}, tx.instruction)]);
  if (tx.type === 'response') rows.push(['request', h('a', { href: `#/tx/${tx.request_id}` }, short(tx.request_id))],
    ['status', tx.status], ['result', tx.result], ['error', tx.error]);
  if (t.response_id) rows.push(['response', h('a', { href: `#/tx/${t.response_id}` }, short(t.response_id))]);
  rows.push(['size', `${tx.size} bytes`], ['signature', h('span', { class: 'hash' }, tx.signature_hex)]);
  const proof = h('section', { class: 'card', 'aria-labelledby': 'proof-h' }, h('h2', { id: 'proof-h' }, 'Inclusion proof'),
    h('p', {}, 'Checking in this browser…'));
  const sigc = h('section', { class: 'card', 'aria-labelledby': 'sigc-h' }, h('h2', { id: 'sigc-h' }, 'Signature'),
    h('p', {}, 'Checking…'));
  box.replaceChildren(h('section', { class: 'card' }, h('dl', { class: 'kv' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
    sigc, proof);
  const g = await loadGenesis();
  const c = await B.checkTxSignature(g, tx.raw_hex);
  sigc.replaceChildren(h('h2', { id: 'sigc-h' }, 'Signature'), h('p', { id: 'tx-sig', class: `verdict ${c.ok ? 'ok' : 'bad'}`, 'data-ok': c.ok ? 'yes' : 'no' },
    c.ok ? `✓ The ${tx.scheme} signature over "bsec/tx/v1" ‖ chain id ‖ content verifies` : '✗ The signature does not verify',
    c.orchestrator ? ` — the sender is the orchestrator key of ${c.orchestrator} in the genesis.` : ' under the sender key.'));
  const blk = await api('GET', `/api/block/${t.height}`);
  const res = await B.checkInclusion(g, blk, tx.raw_hex, t.height);
  proof.replaceChildren(h('h2', { id: 'proof-h' }, 'Inclusion proof'),
    h('p', {}, `Tx ${short(t.id)} in block ${t.height}: the browser recomputes the tx id, walks the Merkle path to the `,
      'header\'s tx_root, hashes the header, and checks the proposer\'s and the commit certificate\'s signatures with ',
      'the node keys of the genesis (SHA-256 ', h('span', { class: 'mono' }, short(B.hex(g.chainId), 12)), ').'),
    checksList(res, 'proof-result'),
    ...(res.path && res.path.length ? [h('h3', {}, 'Merkle path (bottom up)'),
      h('ol', { class: 'mono' }, res.path.map((p) => h('li', { class: 'hash' }, p)))] : []));
}

async function viewBlock(height) {
  const box = h('div', { id: 'block' });
  setMain(`Block ${height}`, box);
  const b = await api('GET', `/api/block/${height}`);
  const hd = b.header;
  const g = await loadGenesis();
  const res = await B.checkBlock(g, b, height);
  box.replaceChildren(
    h('section', { class: 'card' }, h('dl', { class: 'kv' },
      [['hash', b.hash], ['height', hd.height], ['previous', hd.prev_hash], ['time', when(hd.timestamp_ms)], ['view', hd.view],
        ['proposer', `${g.providers[hd.proposer]?.name || hd.proposer}`], ['txs', hd.tx_count], ['tx root', hd.tx_root]]
        .map(([k, v]) => [h('dt', {}, k), h('dd', { class: typeof v === 'string' && v.length > 40 ? 'hash' : '' }, String(v))]),
      h('dt', {}, 'navigate'), h('dd', {}, Number(height) > 1 ? h('a', { href: `#/block/${Number(height) - 1}` }, '← previous') : '',
        ' ', Number(height) < app.height ? h('a', { href: `#/block/${Number(height) + 1}` }, 'next →') : ''))),
    h('section', { class: 'card', 'aria-labelledby': 'cert-h' }, h('h2', { id: 'cert-h' }, 'Commit certificate'),
      h('p', {}, `View ${b.certificate.view}, signed by: ${b.certificate.signatures.map((x) => g.providers[x.node]?.name || x.node).join(', ')}`),
      checksList(res, 'block-result')),
    h('section', { class: 'card', 'aria-labelledby': 'txs-h' }, h('h2', { id: 'txs-h' }, 'Transactions'),
      h('ol', { start: 0, class: 'mono' }, b.tx_ids.map((id, i) => {
        const mine = b.txs.find((t) => t.index === i);
        return h('li', { class: 'hash' }, mine ? h('a', { href: `#/tx/${id}` }, `${id} (your ${mine.role})`) : id);
      }))));
}

// ---- start ----------------------------------------------------------------------------------------------

async function main() {
  try {
    app.info = await api('GET', '/api/info');
    app.height = app.info.height;
    $('#consortium').textContent = `· ${app.info.name}`;
    renderChainBar();
  } catch (e) {
    setMain('The portal does not answer', errorBox(e));
    return;
  }
  try {
    await keyLoad();
  } catch (e) {
    toast(`This browser cannot keep keys (IndexedDB): ${e.message}`);
  }
  await loadSession();
  window.addEventListener('hashchange', async () => {
    // "#main" and the like are in-page anchors (the skip link), not views
    if (location.hash && !location.hash.startsWith('#/')) return;
    await route();
    focusMain();
  });
  await route();
  document.body.dataset.ready = '1';
  liveLoop();
}

main();
