#!/usr/bin/env node
// The web console in a real browser (issue 20): Debian's chromium, headless, driven through the
// DevTools protocol (CDP over Node's WebSocket) against `facelens serve` with a temporary SQLite
// gallery. Through the page: enrol two people from photos (one photo refused, shown per photo),
// their thumbnails load, rename and metadata, a group photo identified (names read from the DOM),
// the camera (Chromium's fake device) captured into an analysis, two photos verified (same and
// different), a person deleted (gone from the page and from the API); no horizontal overflow at
// 360, 375 and 420 px, portrait photos that leave the controls on screen, no script errors; and
// screenshots at 1280 and 375 px wide.
//   node --experimental-websocket console_browser.js FACELENS DATA_DIR SCREENSHOT_DIR
// Exit 77 (ctest: skipped) when chromium is not installed or DATA_DIR has no test photos.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const { spawn, spawnSync } = require('child_process');
const zlib = require('zlib');

const SKIP = 77;
const [facelens, dataDir, shotDir] = process.argv.slice(2);
if (!facelens || !dataDir || !shotDir) {
  console.error('usage: node --experimental-websocket console_browser.js FACELENS DATA_DIR SCREENSHOT_DIR');
  process.exit(2);
}
const faces = path.resolve(dataDir, 'faces');  // absolute: DOM.setFileInputFiles reads the path as given
const photo = (p) => path.join(faces, p);
const needed = ['face_recognition/obama.jpg', 'face_recognition/obama2.jpg', 'face_recognition/obama3.jpg',
  'face_recognition/biden.jpg', 'face_recognition/two_people.jpg'];
for (const p of needed) {
  if (!fs.existsSync(photo(p))) {
    console.log(`console_browser: no test photo ${photo(p)}: skipped`);
    process.exit(SKIP);
  }
}
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].map((c) => {
  const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}).find(Boolean);
if (!chromium) {
  console.log('console_browser: chromium is not installed (apt-get install chromium): skipped');
  process.exit(SKIP);
}
if (typeof WebSocket === 'undefined') {
  console.error('console_browser: no global WebSocket: run node with --experimental-websocket (Node >= 20.10)');
  process.exit(1);
}

const started = Date.now();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'facelens-console-'));
const children = [];
let failed = false;
const serverTail = () => {
  try { return fs.readFileSync(path.join(work, 'server.log'), 'utf8').split('\n').slice(-20).join('\n'); } catch (e) { return ''; }
};
async function cleanup() {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await Promise.race([gone, sleep(3000)]);
  }
  try {
    fs.rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  } catch (e) {
    console.error(`console_browser: could not remove ${work}: ${e.message}`);
  }
}
function fail(msg) {
  console.error('console_browser: FAIL: ' + msg);
  failed = true;
  throw new Error(msg);
}
function check(cond, msg) {
  if (!cond) return fail(msg);
  console.log('  ok: ' + msg);
}
let onFailure = async () => {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A 160x160 grey PNG: a photo with no face, which the service must refuse (shown per photo).
function greyPng(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const td = Buffer.concat([Buffer.from(type), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);  // 8-bit RGB
  const raw = Buffer.alloc((w * 3 + 1) * h, 0x88);
  for (let y = 0; y < h; y++) raw[y * (w * 3 + 1)] = 0;  // filter: none
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- A minimal CDP client (flattened sessions over one WebSocket) ---------------------------------
class Cdp {
  constructor(url) {
    this.ws = new WebSocket(url);
    this.id = 0;
    this.calls = new Map();
    this.handlers = [];
    this.ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.id !== undefined) {
        const c = this.calls.get(m.id);
        this.calls.delete(m.id);
        if (m.error) c.reject(new Error(`${c.method}: ${m.error.message}`));
        else c.resolve(m.result);
      } else {
        for (const h of this.handlers) h(m);
      }
    };
  }
  open() {
    return new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error('cannot connect to chromium\'s DevTools socket'));
    });
  }
  send(method, params = {}, sessionId) {
    const id = ++this.id;
    this.ws.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => this.calls.set(id, { resolve, reject, method }));
  }
  on(fn) { this.handlers.push(fn); }
}

async function main() {
  fs.mkdirSync(shotDir, { recursive: true });
  fs.rmSync(path.join(shotDir, 'failure.png'), { force: true });
  const blank = path.join(work, 'no-face.png');
  fs.writeFileSync(blank, greyPng(160, 160));

  // ---- facelens serve -----------------------------------------------------------------------------
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serverLog = fs.openSync(path.join(work, 'server.log'), 'w');
  const server = spawn(facelens, ['serve', '--port', String(port), '--db', path.join(work, 'gallery.db'), '--provider', 'cpu'],
    { stdio: ['ignore', serverLog, serverLog] });
  children.push(server);
  for (let i = 0; ; i++) {
    const ok = await fetch(base + '/ready').then((r) => r.ok, () => false);
    if (ok) break;
    if (server.exitCode !== null || i > 300) fail('the server did not become ready:\n' + serverTail());
    await sleep(200);
  }
  console.log(`console_browser: facelens serve ready on ${base} after ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // The console's files: their types, an ETag, and 304 when the browser has them already.
  for (const [file, type] of [['/', 'text/html'], ['/app.js', 'text/javascript'], ['/app.css', 'text/css']]) {
    const r = await fetch(base + file);
    const etag = r.headers.get('etag');
    check(r.status === 200 && (r.headers.get('content-type') || '').startsWith(type) && /^"[0-9a-f]{16}"$/.test(etag || '') &&
      r.headers.get('cache-control') === 'no-cache' && (await r.text()).length > 1000,
    `GET ${file}: 200, ${r.headers.get('content-type')}, ETag ${etag}, Cache-Control ${r.headers.get('cache-control')}`);
    const again = await fetch(base + file, { headers: { 'If-None-Match': etag } });
    check(again.status === 304 && (await again.text()) === '', `GET ${file} with If-None-Match: 304, no body`);
  }

  // ---- chromium ------------------------------------------------------------------------------------
  const profile = path.join(work, 'chrome');
  const args = ['--headless=new', '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--no-first-run',
    '--no-default-browser-check', '--disable-gpu', '--disable-extensions', '--disable-background-networking',
    '--disable-sync', '--hide-scrollbars', '--mute-audio', '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream', '--lang=en-US'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const chrome = spawn(chromium, [...args, 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(chrome);
  let chromeErr = '';
  chrome.stderr.on('data', (d) => { chromeErr = (chromeErr + d).slice(-4000); });
  let wsUrl;
  for (let i = 0; !wsUrl; i++) {
    try {
      const [p, wsPath] = fs.readFileSync(path.join(profile, 'DevToolsActivePort'), 'utf8').split('\n');
      if (p && wsPath) wsUrl = `ws://127.0.0.1:${p}${wsPath}`;
    } catch (e) { /* not yet written */ }
    if (!wsUrl && (chrome.exitCode !== null || i > 150)) fail('chromium did not start:\n' + chromeErr);
    if (!wsUrl) await sleep(100);
  }
  const cdp = new Cdp(wsUrl);
  await cdp.open();
  const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true });
  const page = (method, params) => cdp.send(method, params, sessionId);
  const errors = [];
  cdp.on((m) => {
    if (m.sessionId !== sessionId) return;
    if (m.method === 'Runtime.exceptionThrown') {
      const d = m.params.exceptionDetails;
      errors.push((d.exception && d.exception.description) || d.text);
    }
  });
  await page('Page.enable');
  await page('Runtime.enable');
  await page('Browser.grantPermissions', { origin: base, permissions: ['videoCapture'] }).catch(() => {});

  const evaluate = async (expression) => {
    const r = await page('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.exception ? r.exceptionDetails.exception.description : r.exceptionDetails.text}`);
    return r.result.value;
  };
  const waitFor = async (expression, what, timeoutMs = 30000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = await evaluate(expression).catch(() => undefined);
      if (v) return v;
      if (Date.now() > until) {
        const status = await evaluate('[...document.querySelectorAll(".view:not([hidden]) .status")].map((s) => s.textContent).join(" | ")').catch(() => '');
        return fail(`timed out waiting for ${what} (page status: ${status})\n${serverTail()}`);
      }
      await sleep(100);
    }
  };
  const setFiles = async (id, files) => {
    const { result } = await page('Runtime.evaluate', { expression: `document.getElementById(${JSON.stringify(id)})` });
    await page('DOM.setFileInputFiles', { objectId: result.objectId, files });
  };
  const click = (selector) => evaluate(`document.querySelector(${JSON.stringify(selector)}).click()`);
  const setValue = (id, value) => evaluate(`(() => { const e = document.getElementById(${JSON.stringify(id)});
    e.value = ${JSON.stringify(value)}; e.dispatchEvent(new Event('input', {bubbles: true})); })()`);
  const text = (selector) => evaluate(`(document.querySelector(${JSON.stringify(selector)}) || {}).textContent || ''`);
  const viewport = (width, height, mobile) => page('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile });
  const shots = [];
  const screenshot = async (name) => {
    const m = await page('Page.getLayoutMetrics');
    const size = m.cssContentSize || m.contentSize;
    const vw = await evaluate('window.innerWidth');
    const { data } = await page('Page.captureScreenshot', {
      format: 'png', captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: vw, height: Math.min(Math.ceil(size.height), 4000), scale: 1 },
    });
    const file = path.join(shotDir, name + '.png');
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
    shots.push(file);
  };
  onFailure = () => screenshot('failure').then(() => console.error('  the page at the failure: ' + path.join(shotDir, 'failure.png')), () => {});
  const show = async (view) => {
    await evaluate(`location.hash = '#${view}'`);
    await waitFor(`!document.getElementById('view-${view}').hidden`, `the ${view} view`);
    await evaluate('window.scrollTo(0, 0)');
  };
  const pressEnter = async () => {
    const key = { key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13, nativeVirtualKeyCode: 13 };
    await page('Input.dispatchKeyEvent', { type: 'keyDown', text: '\r', ...key });
    await page('Input.dispatchKeyEvent', { type: 'keyUp', ...key });
  };

  // ---- The page ------------------------------------------------------------------------------------
  await viewport(1280, 900, false);
  await page('Page.navigate', { url: base + '/#gallery' });
  await waitFor(`document.readyState === 'complete' && document.getElementById('identity-grid').textContent.includes('No one is enrolled')`,
    'the empty gallery');
  check(await evaluate(`getComputedStyle(document.querySelector('.card')).borderRadius !== '0px'`), 'the style sheet /app.css applied');

  // Enrol: three photos of Barack Obama in one go (one request per photo), one of them without a face.
  await setValue('enrol-name', 'Barack Obama');
  await setFiles('enrol-files', [photo('face_recognition/obama.jpg'), photo('face_recognition/obama2.jpg'), blank]);
  await waitFor(`document.querySelectorAll('#enrol-pending li').length === 3`, 'three pending photos');
  await click('#enrol-submit');
  await waitFor(`[...document.querySelectorAll('#enrol-results li')].filter((li) => /ok|bad/.test(li.className)).length === 3`,
    'three per-photo results');
  const results = await evaluate(`[...document.querySelectorAll('#enrol-results li')].map((li) => ({ok: li.classList.contains('ok'), text: li.textContent}))`);
  check(results.filter((r) => r.ok).length === 2, `two photos of Barack Obama enrolled (${results.map((r) => r.text).join(' | ')})`);
  const refused = results.find((r) => !r.ok);
  check(refused && refused.text.includes('no-face.png') && /HTTP 4\d\d/.test(refused.text) && !refused.text.includes('{'),
    `the photo without a face refused with a readable reason: "${refused && refused.text}"`);

  await setValue('enrol-name', 'Joe Biden');
  await setValue('enrol-meta', '{"role": "vice president"}');
  await setFiles('enrol-files', [photo('face_recognition/biden.jpg')]);
  await waitFor(`document.querySelectorAll('#enrol-pending li').length === 1`, 'one pending photo');
  await click('#enrol-submit');
  await waitFor(`document.querySelector('#enrol-results li.ok')`, 'Joe Biden enrolled');

  // Both people listed, each with a stored-crop thumbnail that loaded.
  await waitFor(`document.querySelectorAll('#identity-grid .identity').length === 2 &&
    [...document.querySelectorAll('#identity-grid .identity img')].filter((i) => i.complete && i.naturalWidth > 0).length === 2`,
  'two identity cards with loaded thumbnails');
  check(true, 'two people listed, both thumbnails loaded (naturalWidth > 0)');
  const cards = await text('#identity-grid');
  check(cards.includes('Barack Obama') && cards.includes('2 faces') && cards.includes('Joe Biden') && cards.includes('role'),
    `the cards show names, face counts and metadata keys ("${cards}")`);
  await screenshot('gallery-1280');

  // Search by name.
  await setValue('search', 'bid');
  check((await evaluate(`[...document.querySelectorAll('#identity-grid .identity')].map((c) => c.dataset.id).join(',')`)) === 'Joe Biden',
    'searching "bid" leaves only Joe Biden');
  await setValue('search', '');

  // The person's sheet: faces with thumbnails, rename, metadata.
  await click('#identity-grid .identity[data-id="Barack Obama"]');
  await waitFor(`document.getElementById('identity-dialog').open &&
    [...document.querySelectorAll('#identity-faces img')].filter((i) => i.complete && i.naturalWidth > 0).length === 2`,
  'Barack Obama\'s sheet with two face crops');
  check(true, 'the sheet shows both stored faces');
  await setValue('rename-input', 'Joe Biden');
  await click('#rename-form button[type=submit]');
  await waitFor(`/already a person named Joe Biden/.test(document.getElementById('identity-status').textContent)`, 'the 409 on a taken name');
  check(true, 'renaming to a taken name is refused with a readable message');
  await setValue('rename-input', 'Barack H. Obama');
  await click('#rename-form button[type=submit]');
  await waitFor(`document.getElementById('identity-title').textContent === 'Barack H. Obama' && /Renamed/.test(document.getElementById('identity-status').textContent)`,
    'the rename');
  await setValue('meta-input', '[1, 2]');
  await click('#meta-form button[type=submit]');
  await waitFor(`/must be a JSON object/.test(document.getElementById('identity-status').textContent)`, 'a metadata array refused in the page');
  await setValue('meta-input', '{"office": "44th president"}');
  await click('#meta-form button[type=submit]');
  await waitFor(`/Metadata saved/.test(document.getElementById('identity-status').textContent)`, 'the metadata saved');
  const stored = await (await fetch(base + '/v1/identities/' + encodeURIComponent('Barack H. Obama'))).json();
  check(stored.name === 'Barack H. Obama' && stored.metadata && stored.metadata.office === '44th president',
    'rename and metadata stored (GET /v1/identities/Barack%20H.%20Obama)');
  await screenshot('identity-1280');
  await click('#identity-close');

  // Analyze a group photo: every face boxed, the names on the page.
  await show('analyze');
  await setFiles('analyze-file', [photo('face_recognition/two_people.jpg')]);
  await waitFor(`document.querySelectorAll('#face-cards .face-card').length >= 2 && !document.getElementById('analyze-status').classList.contains('busy')`,
    'the face cards of two_people.jpg');
  const found = await text('#face-cards');
  check(found.includes('Barack H. Obama') && found.includes('Joe Biden'), 'two_people.jpg: both names on the face cards');
  check(/Liveness/.test(found) && /Age/.test(found), 'the face cards show liveness and attributes');
  check((await text('#analyze-status')).includes('Barack H. Obama'), 'the status line names the people found');
  await screenshot('analyze-1280');

  // The camera (Chromium's fake device) into an analysis.
  await click('[data-camera=analyze]');
  await waitFor(`document.getElementById('camera-video').videoWidth > 0 && !document.getElementById('camera-capture').disabled`, 'the camera preview');
  await click('#camera-capture');
  await waitFor(`!document.getElementById('camera-dialog').open && !document.getElementById('analyze-status').classList.contains('busy') &&
    /face/.test(document.getElementById('analyze-status').textContent) && /^camera-/.test(document.getElementById('analyze-canvas').getAttribute('aria-label'))`,
  'the camera photo analysed');
  check(true, `camera capture analysed: "${await text('#analyze-status')}"`);

  // Verify two photos side by side.
  await show('verify');
  await setFiles('verify-file-a', [photo('face_recognition/obama.jpg')]);
  await setFiles('verify-file-b', [photo('face_recognition/obama3.jpg')]);
  await waitFor(`!document.getElementById('verdict').hidden`, 'the verdict');
  check((await text('#verdict-headline')) === 'Same person', `obama.jpg vs obama3.jpg: "${await text('#verdict')}"`);
  await screenshot('verify-1280');
  await setFiles('verify-file-b', [photo('face_recognition/biden.jpg')]);
  await waitFor(`!document.getElementById('verdict').hidden && document.getElementById('verdict-headline').textContent !== 'Same person'`,
    'the second verdict');
  check((await text('#verdict-headline')) === 'Different people', `obama.jpg vs biden.jpg: "${await text('#verdict')}"`);
  await click('input[name=verify-mode][value=identity]');
  await evaluate(`(() => { const s = document.getElementById('verify-identity'); s.value = 'Barack H. Obama'; s.dispatchEvent(new Event('change')); })()`);
  await click('#verify-run');
  await waitFor(`!document.getElementById('verdict').hidden`, 'the verdict against an enrolled person');
  check((await text('#verdict-headline')) === 'Same person: Barack H. Obama', `obama.jpg vs the enrolled Barack H. Obama: "${await text('#verdict-headline')}"`);
  await click('input[name=verify-mode][value=photo]');

  // Delete a person: the sheet, the confirmation answered with the keyboard (Enter).
  await show('gallery');
  await click('#identity-grid .identity[data-id="Joe Biden"]');
  await waitFor(`document.getElementById('identity-dialog').open && document.getElementById('identity-title').textContent === 'Joe Biden'`, 'Joe Biden\'s sheet');
  await click('#identity-delete');
  await waitFor(`document.getElementById('confirm-dialog').open`, 'the confirmation');
  check((await evaluate('document.activeElement.id')) === 'confirm-cancel', 'the confirmation focuses Cancel first');
  await evaluate(`document.getElementById('confirm-ok').focus()`);
  await pressEnter();
  await waitFor(`!document.getElementById('identity-dialog').open && !document.querySelector('#identity-grid .identity[data-id="Joe Biden"]') &&
    /deleted/.test(document.getElementById('gallery-status').textContent)`, 'Joe Biden gone from the page');
  const list = await (await fetch(base + '/v1/identities')).json();
  check(list.identities.length === 1 && list.identities[0].name === 'Barack H. Obama', 'GET /v1/identities: only Barack H. Obama left');
  check((await fetch(base + '/v1/identities/Joe%20Biden')).status === 404, 'GET /v1/identities/Joe%20Biden: 404');

  // Narrow screens: no horizontal overflow in any view; portrait photos keep the controls on screen.
  await show('verify');
  await setFiles('verify-file-b', [photo('face_recognition/obama2.jpg')]);
  await waitFor(`!document.getElementById('verdict').hidden`, 'the verdict before the narrow checks');
  for (const width of [375, 360, 420]) {
    await viewport(width, 812, true);
    for (const view of ['gallery', 'analyze', 'verify', 'system']) {
      await show(view);
      if (view === 'system') await waitFor(`document.querySelectorAll('#models-table tbody tr').length > 0`, 'the models table');
      await sleep(50);
      const sw = await evaluate('document.documentElement.scrollWidth');
      check(sw <= width, `${view} at ${width} px: scrollWidth ${sw} <= ${width}`);
      if (width !== 375) continue;
      if (view === 'verify') {
        const bottom = await evaluate(`document.getElementById('verify-run').getBoundingClientRect().bottom`);
        check(bottom <= 812, `verify at 375 px with portrait photos: the Compare button on screen (bottom ${Math.round(bottom)} <= 812)`);
      }
      if (view === 'analyze') {
        const h = await evaluate(`document.getElementById('analyze-canvas').getBoundingClientRect().height`);
        check(h <= 0.5 * 812, `analyze at 375 px: the photo ${Math.round(h)} px high, at most half the screen`);
      }
      await screenshot(`${view}-375`);
    }
  }
  await viewport(1280, 900, false);
  await show('system');
  const models = await text('#models-table tbody');
  check(/CPU/.test(models), 'the System view names the provider each model runs on');
  await screenshot('system-1280');

  check(errors.length === 0, `no script errors in the page${errors.length ? ': ' + errors.join(' | ') : ''}`);
  await cdp.send('Browser.close').catch(() => {});
  console.log(`console_browser: passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots:\n  ${shots.join('\n  ')}`);
}

main().then(async () => { await cleanup(); process.exit(0); }, async (e) => {
  await onFailure();
  if (!failed) console.error('console_browser: FAIL: ' + (e && e.stack ? e.stack : e));
  console.error('the server\'s last lines:\n' + serverTail());
  await cleanup();
  process.exit(1);
});
