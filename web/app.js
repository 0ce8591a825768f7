// facelens web console: gallery, analyze, verify, camera capture and the models' providers, over
// the service's /v1 API. No framework and no build step: served as is by `facelens serve`.
// Text from the server or the user only ever reaches the page through textContent (never HTML).
'use strict';

const KEY_STORAGE = 'facelens.apiKey';
const PAGE_SIZE = 60;  // identity cards rendered at once ("Show more" adds as many)
const DETAIL_FETCHES = 4;  // identity details fetched at once for the cards' thumbnails
const FACE_COLOURS = ['#2f6fec', '#e8590c', '#12b886', '#be4bdb', '#f59f00', '#e03131', '#1098ad', '#5c940d'];

const $ = (id) => document.getElementById(id);

// el('div', {class: 'x', onclick: f}, child, 'text', ...): children are nodes or text (never HTML).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'style') node.style.cssText = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function setStatus(node, text, kind) {
  node.textContent = text || '';
  node.className = 'status' + (kind ? ' ' + kind : '');
}

const count = (n, one, many) => `${n} ${n === 1 ? one : many || one + 's'}`;

const fmt = {
  score: (v) => (typeof v === 'number' ? v.toFixed(3) : '—'),
  pct: (v) => (typeof v === 'number' ? Math.round(v * 100) + '%' : '—'),
  date: (v) => {
    if (v === undefined || v === null || v === '') return '';
    const d = typeof v === 'number' ? new Date(v < 1e12 ? v * 1000 : v) : new Date(v);
    return isNaN(d) ? String(v) : d.toLocaleString();
  },
};

// ---- API ---------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const api = {
  key() { return sessionStorage.getItem(KEY_STORAGE) || ''; },
  headers(extra) {
    const h = Object.assign({}, extra);
    const k = api.key();
    if (k) h['X-API-Key'] = k;
    return h;
  },
  // Resolves to the parsed JSON body; rejects with an ApiError carrying the server's {code, message}.
  async request(method, path, { form, json } = {}) {
    let res;
    try {
      res = await fetch(path, {
        method,
        headers: api.headers(json !== undefined ? { 'Content-Type': 'application/json' } : {}),
        body: form || (json !== undefined ? JSON.stringify(json) : undefined),
      });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', 'the server did not answer (' + e.message + '): is facelens still running?');
    }
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!res.ok) {
      const err = (body && (body.error || body)) || {};
      throw new ApiError(res.status, err.code || 'HTTP_' + res.status,
                         err.message || (text && text.length < 300 ? text : res.statusText || 'request failed'));
    }
    return body;
  },
  get: (path) => api.request('GET', path),
  post: (path, fields) => api.request('POST', path, { form: formOf(fields) }),
  patch: (path, json) => api.request('PATCH', path, { json }),
  del: (path) => api.request('DELETE', path),
  // An image behind the API key (an <img src> cannot send headers): an object URL, cached.
  blobUrls: new Map(),
  // Forgets every fetched image (a key change or "Forget"): what the old key could see is not kept.
  dropImages() {
    for (const p of api.blobUrls.values()) p.then((u) => URL.revokeObjectURL(u), () => {});
    api.blobUrls.clear();
  },
  async imageUrl(path) {
    if (api.blobUrls.has(path)) return api.blobUrls.get(path);
    const p = (async () => {
      const res = await fetch(path, { headers: api.headers() });
      if (!res.ok) throw new ApiError(res.status, 'HTTP_' + res.status, 'no image at ' + path);
      return URL.createObjectURL(await res.blob());
    })();
    api.blobUrls.set(path, p);
    p.catch(() => api.blobUrls.delete(path));
    return p;
  },
};

function formOf(fields) {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null || v === '') continue;
    if (v instanceof Blob) f.append(k, v, v.name || k + '.jpg');
    else f.append(k, v);
  }
  return f;
}

// The refusal of a server started with --no-gallery (other 409s, e.g. a model mismatch, differ).
const isNoGallery = (e) => e instanceof ApiError && e.status === 409 && e.code === 'FAILED_PRECONDITION' &&
  /^(this service runs without a gallery|no gallery$)/.test(e.message);

// A sentence for people: the server's message, what kind of error, and what to do for keys.
function explain(e) {
  if (!(e instanceof ApiError)) return String(e && e.message ? e.message : e);
  let msg = e.message.charAt(0).toUpperCase() + e.message.slice(1);
  if (e.status === 401) msg += ' — enter an API key (top right).';
  else if (e.status === 403) msg += ' — this needs an admin key.';
  if (isNoGallery(e)) {
    msg = 'This server runs without a gallery (started with --no-gallery): enrolment and identification are off.';
  }
  return e.status ? `${msg} (HTTP ${e.status})` : msg;
}

const idPath = (id) => '/v1/identities/' + encodeURIComponent(id);

// ---- Images and canvases -------------------------------------------------------------------------

function loadImage(blob) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(blob);
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error('the browser cannot show this file as an image')); };
    img.src = url;
  });
}

// Draws the image (at most 1600 px wide, for memory) and a numbered box per face.
// faces: [{box: [x1, y1, x2, y2] in image pixels, colour, label}]
function drawStage(canvas, img, faces) {
  const scale = Math.min(1, 1600 / img.naturalWidth);
  canvas.width = Math.round(img.naturalWidth * scale);
  canvas.height = Math.round(img.naturalHeight * scale);
  const g = canvas.getContext('2d');
  g.drawImage(img, 0, 0, canvas.width, canvas.height);
  // Lines and labels sized for the canvas as shown (CSS shrinks it), not for its pixels.
  const px = canvas.width / (canvas.clientWidth || canvas.width);
  const line = Math.max(2, Math.round(2.5 * px));
  const fontPx = Math.round(13 * px);
  g.font = `600 ${fontPx}px system-ui, sans-serif`;
  g.textBaseline = 'top';
  for (const f of faces) {
    const [x1, y1, x2, y2] = f.box.map((v) => v * scale);
    g.lineWidth = line;
    g.strokeStyle = f.colour;
    g.strokeRect(x1, y1, x2 - x1, y2 - y1);
    if (!f.label) continue;
    const pad = Math.round(fontPx * 0.3);
    const w = g.measureText(f.label).width + 2 * pad;
    const h = fontPx + 2 * pad;
    let ty = y1 - h;
    if (ty < 0) ty = Math.min(canvas.height - h, y2);
    const tx = Math.max(0, Math.min(canvas.width - w, x1 - line / 2));
    g.fillStyle = f.colour;
    g.fillRect(tx, ty, w, h);
    g.fillStyle = '#fff';
    g.fillText(f.label, tx + pad, ty + pad);
  }
}

function iou(a, b) {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

function thresholdOf(input) {
  const v = input.value.trim();
  if (!v) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < -1 || n > 1) throw new Error('the threshold must be a number between -1 and 1');
  return String(n);
}

// ---- Header: server state, API key, views ----------------------------------------------------------

const state = {
  health: null,
  identities: [],  // from GET /v1/identities
  details: new Map(),  // id -> GET /v1/identities/{id} (face_list)
  shown: PAGE_SIZE,
  current: null,  // the identity open in the dialog
};

function showKeyState() {
  const has = !!api.key();
  $('key-dot').classList.toggle('set', has);
  $('key-summary').textContent = has ? 'API key set' : 'API key';
}

function initKey() {
  $('key-input').value = api.key();
  showKeyState();
  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('key-input').value.trim();
    if (v) sessionStorage.setItem(KEY_STORAGE, v);
    else sessionStorage.removeItem(KEY_STORAGE);
    showKeyState();
    $('key-box').open = false;
    api.dropImages();
    refreshAll();
  });
  $('key-clear').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $('key-input').value = '';
    api.dropImages();
    showKeyState();
    refreshAll();
  });
}

function askForKey() {
  $('key-box').open = true;
  $('key-input').focus();
}

async function loadHealth() {
  const node = $('server-state');
  try {
    const h = await api.get('/health');
    state.health = h;
    if (!h.version) {
      node.textContent = 'connected — enter an API key for details';
    } else {
      const g = h.gallery ? `${count(h.gallery.identities, 'person', 'people')}, ${count(h.gallery.faces, 'face')}` : 'no gallery';
      node.textContent = `v${h.version} · ${g}`;
    }
    node.classList.remove('bad');
  } catch (e) {
    node.textContent = 'server unreachable';
    node.classList.add('bad');
  }
}

const VIEWS = ['gallery', 'analyze', 'verify', 'system'];
function route() {
  let view = location.hash.replace('#', '');
  if (!VIEWS.includes(view)) view = 'gallery';
  for (const v of VIEWS) $('view-' + v).hidden = v !== view;
  for (const a of document.querySelectorAll('.tabs a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `facelens · ${view.charAt(0).toUpperCase() + view.slice(1)}`;
  if (view === 'system') loadSystem();
  if (view === 'verify') fillIdentitySelect();
}

function refreshAll() {
  loadHealth();
  loadIdentities();
  if (location.hash === '#system') loadSystem();
}

// ---- Camera -----------------------------------------------------------------------------------------

const camera = {
  stream: null,
  resolve: null,
  // Opens the camera dialog; resolves to a JPEG Blob, or null when closed without a capture.
  open() {
    const dlg = $('camera-dialog');
    const video = $('camera-video');
    const status = $('camera-status');
    const capture = $('camera-capture');
    capture.disabled = true;
    video.hidden = false;
    setStatus(status, 'Starting the camera…', 'busy');
    dlg.showModal();
    const done = new Promise((resolve) => { camera.resolve = resolve; });
    if (!window.isSecureContext) {
      this.fail(`The browser offers the camera only to secure pages (https, or http://localhost); this page is ${location.origin}. ` +
                'Choose a photo instead, or open the console through localhost or https.');
    } else if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.fail('This browser has no camera access (navigator.mediaDevices): choose a photo instead.');
    } else {
      navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false })
        .then(async (stream) => {
          camera.stream = stream;
          video.srcObject = stream;
          await video.play().catch(() => {});
          setStatus(status, 'Look at the camera, then press Capture (or Enter).');
          capture.disabled = false;
          capture.focus();
        })
        .catch((e) => {
          const why = {
            NotAllowedError: 'Camera permission was refused: allow the camera for this site in the browser\'s settings, or choose a photo instead.',
            NotFoundError: 'No camera was found: connect one, or choose a photo instead.',
            NotReadableError: 'The camera is in use by another program (or blocked by the system): close it and try again.',
            OverconstrainedError: 'The camera cannot give a usable picture size.',
          }[e.name];
          this.fail(why || `The camera could not start (${e.name}: ${e.message}).`);
        });
    }
    return done;
  },
  fail(message) {
    $('camera-video').hidden = true;
    setStatus($('camera-status'), message, 'bad');
    $('camera-cancel').focus();
  },
  stop() {
    if (camera.stream) for (const t of camera.stream.getTracks()) t.stop();
    camera.stream = null;
    $('camera-video').srcObject = null;
  },
  finish(blob) {
    camera.stop();
    const dlg = $('camera-dialog');
    if (dlg.open) dlg.close();
    if (camera.resolve) camera.resolve(blob);
    camera.resolve = null;
  },
  capture() {
    const video = $('camera-video');
    if (!video.videoWidth) return;
    const c = document.createElement('canvas');
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext('2d').drawImage(video, 0, 0);
    c.toBlob((blob) => {
      const stamp = new Date().toISOString().slice(11, 19).replace(/:/g, '');
      const file = new File([blob], `camera-${stamp}.jpg`, { type: 'image/jpeg' });
      camera.finish(file);
    }, 'image/jpeg', 0.92);
  },
};

function initCamera() {
  $('camera-capture').addEventListener('click', () => camera.capture());
  $('camera-cancel').addEventListener('click', () => camera.finish(null));
  $('camera-dialog').addEventListener('cancel', (ev) => { ev.preventDefault(); camera.finish(null); });
  const targets = {
    enrol: (f) => addPending([f]),
    add: (f) => addPhotosTo(state.current, [f], $('add-results')),
    analyze: (f) => analyze.run(f),
    'verify-a': (f) => verify.set('a', f),
    'verify-b': (f) => verify.set('b', f),
  };
  for (const b of document.querySelectorAll('[data-camera]')) {
    b.addEventListener('click', async () => {
      const file = await camera.open();
      b.focus();
      if (file) targets[b.dataset.camera](file);
    });
  }
}

// Drag and drop onto any picker, as if chosen with its file input.
function initDrops() {
  for (const p of document.querySelectorAll('.picker')) {
    const input = p.querySelector('input[type=file]');
    p.addEventListener('dragover', (ev) => { ev.preventDefault(); p.classList.add('drop'); });
    p.addEventListener('dragleave', () => p.classList.remove('drop'));
    p.addEventListener('drop', (ev) => {
      ev.preventDefault();
      p.classList.remove('drop');
      const files = [...ev.dataTransfer.files].filter((f) => f.type.startsWith('image/'));
      if (!files.length) return;
      const dt = new DataTransfer();
      for (const f of input.multiple ? files : files.slice(0, 1)) dt.items.add(f);
      input.files = dt.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
    });
  }
}

// ---- Gallery --------------------------------------------------------------------------------------

const pending = [];  // photos chosen for enrolment

function addPending(files) {
  for (const f of files) pending.push(f);
  renderPending();
}

function renderPending() {
  const ul = $('enrol-pending');
  ul.replaceChildren();
  pending.forEach((f, i) => {
    const url = URL.createObjectURL(f);
    ul.append(el('li', {},
      el('img', { src: url, alt: f.name, onload: () => URL.revokeObjectURL(url) }),
      el('button', { type: 'button', class: 'ghost', 'aria-label': `Remove ${f.name}`, text: '✕',
                     onclick: () => { pending.splice(i, 1); renderPending(); } })));
  });
  $('enrol-submit').textContent = pending.length > 1 ? `Enrol ${pending.length} photos` : 'Enrol';
}

function parseMetadata(text) {
  if (!text.trim()) return { ok: true, value: undefined };
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false, message: 'Metadata must be a JSON object, like {"team": "research"}.' };
    return { ok: true, value: v };
  } catch (e) {
    return { ok: false, message: 'Metadata is not valid JSON: ' + e.message };
  }
}

// One request per photo, in order: the first creates the person (with the metadata) unless they
// exist; the others add faces. Each photo's answer (face id, or the refusal) is listed.
async function enrolPhotos(name, files, metadata, list, exists) {
  let created = exists;
  let ok = 0;
  for (const f of files) {
    const url = URL.createObjectURL(f);
    const msg = el('span', { class: 'msg', text: 'sending…' });
    const item = el('li', { class: 'result' },
      el('img', { src: url, alt: '' }),
      el('div', { class: 'what' }, el('div', { class: 'file', text: f.name || 'camera photo' }), msg));
    list.append(item);
    try {
      const r = created
        ? await api.post(idPath(name) + '/faces', { image: f })
        : await api.post('/v1/identities', { name, image: f, metadata: metadata ? JSON.stringify(metadata) : undefined });
      created = true;
      ok++;
      item.classList.add('ok');
      const extra = typeof r.sharpness === 'number' ? ` · sharpness ${r.sharpness.toFixed(1)}` : '';
      msg.textContent = `enrolled as ${r.name || name} (face ${r.face_id})${extra}`;
    } catch (e) {
      item.classList.add('bad');
      msg.textContent = explain(e);
    }
  }
  return ok;
}

async function submitEnrol(ev) {
  ev.preventDefault();
  const status = $('enrol-status');
  const nameInput = $('enrol-name');
  const name = nameInput.value.trim();
  const meta = parseMetadata($('enrol-meta').value);
  nameInput.setAttribute('aria-invalid', String(!name));
  $('enrol-meta').setAttribute('aria-invalid', String(!meta.ok));
  if (!name) { setStatus(status, 'Enter the person\'s name.', 'bad'); nameInput.focus(); return; }
  if (!meta.ok) { setStatus(status, meta.message, 'bad'); $('enrol-meta').focus(); return; }
  if (!pending.length) { setStatus(status, 'Choose one or more photos (or use the camera).', 'bad'); $('enrol-files').focus(); return; }
  const files = pending.splice(0);
  renderPending();
  const list = $('enrol-results');
  list.replaceChildren();
  $('enrol-submit').disabled = true;
  setStatus(status, `Enrolling ${files.length} photo${files.length > 1 ? 's' : ''} of ${name}…`, 'busy');
  const exists = state.identities.some((i) => (i.name || i.id) === name);
  const ok = await enrolPhotos(name, files, meta.value, list, exists);
  $('enrol-submit').disabled = false;
  const refused = files.length - ok;
  setStatus(status, `${name}: ${ok} of ${files.length} photo${files.length > 1 ? 's' : ''} enrolled` +
            (refused ? `, ${refused} refused (see below)` : '') + '.', refused ? (ok ? '' : 'bad') : 'ok');
  state.details.delete(name);
  await loadIdentities();
  loadHealth();
}

async function loadIdentities() {
  const status = $('gallery-status');
  try {
    const r = await api.get('/v1/identities');
    state.identities = (r.identities || []).slice().sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
    setStatus(status, '');
  } catch (e) {
    state.identities = [];
    setStatus(status, explain(e), 'bad');
    if (e.status === 401) askForKey();
  }
  $('identity-names').replaceChildren(...state.identities.map((i) => el('option', { value: i.name || i.id })));
  renderIdentities();
  if (!$('view-verify').hidden) fillIdentitySelect();
}

function filteredIdentities() {
  const q = $('search').value.trim().toLowerCase();
  return q ? state.identities.filter((i) => (i.name || i.id).toLowerCase().includes(q)) : state.identities;
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => [...w][0].toUpperCase()).join('') || '?';
}

function renderIdentities() {
  const grid = $('identity-grid');
  const list = filteredIdentities();
  const total = state.identities.length;
  $('people-count').textContent = total ? (list.length === total ? `(${total})` : `(${list.length} of ${total})`) : '';
  grid.replaceChildren();
  if (!list.length) {
    const q = $('search').value.trim();
    if (!$('gallery-status').textContent) {
      grid.append(el('li', { class: 'empty', text: q ? `No one matches "${q}".` : 'No one is enrolled yet: enrol a person with one or more photos.' }));
    }
  }
  const shown = list.slice(0, state.shown);
  for (const i of shown) {
    const id = i.id || i.name;
    const name = i.name || i.id;
    const face = el('span', { class: 'face' }, el('span', { class: 'avatar', 'aria-hidden': 'true', text: initials(name) }));
    const metaKeys = i.metadata && typeof i.metadata === 'object' ? Object.keys(i.metadata) : [];
    const n = i.faces !== undefined ? i.faces : '?';
    const card = el('button', { type: 'button', class: 'identity', 'data-id': id, onclick: () => openIdentity(id) },
      face,
      el('span', { class: 'who' },
        el('span', { class: 'nm', text: name }),
        el('span', { class: 'sub', text: `${n} face${n === 1 ? '' : 's'}` + (metaKeys.length ? ' · ' + metaKeys.join(', ') : '') })));
    card.setAttribute('aria-label', `${name}, ${n} face${n === 1 ? '' : 's'}: open`);
    grid.append(el('li', {}, card));
    thumbnailInto(face, id, name);
  }
  $('show-more').hidden = list.length <= shown.length;
}

// Thumbnails: the first stored face's crop, through a small queue of identity detail requests.
const detailQueue = { running: 0, waiting: [] };
function identityDetail(id) {
  if (state.details.has(id)) return state.details.get(id);
  const p = new Promise((resolve, reject) => {
    const go = () => {
      detailQueue.running++;
      api.get(idPath(id)).then(resolve, reject).finally(() => {
        detailQueue.running--;
        const next = detailQueue.waiting.shift();
        if (next) next();
      });
    };
    if (detailQueue.running < DETAIL_FETCHES) go();
    else detailQueue.waiting.push(go);
  });
  state.details.set(id, p);
  p.catch(() => state.details.delete(id));
  return p;
}

function cropUrl(face) {
  return face.crop_url || `/v1/faces/${encodeURIComponent(face.face_id)}/crop`;
}

async function thumbnailInto(box, id, name) {
  try {
    const d = await identityDetail(id);
    const face = (d.face_list || [])[0];
    if (!face) return;
    const url = await api.imageUrl(cropUrl(face));
    const img = el('img', { alt: `${name}'s face`, src: url, decoding: 'async' });
    box.replaceChildren(img);
  } catch (e) {
    // No crop (a face enrolled before crops were stored): the initials stay.
  }
}

async function openIdentity(id) {
  const dlg = $('identity-dialog');
  state.current = id;
  $('identity-title').textContent = id;
  $('rename-input').value = id;
  $('meta-input').value = '';
  $('identity-faces').replaceChildren();
  $('add-results').replaceChildren();
  setStatus($('identity-status'), 'Loading…', 'busy');
  if (!dlg.open) dlg.showModal();
  state.details.delete(id);
  try {
    const d = await identityDetail(id);
    fillIdentity(d);
    setStatus($('identity-status'), '');
  } catch (e) {
    setStatus($('identity-status'), explain(e), 'bad');
  }
}

function fillIdentity(d) {
  const name = d.name || d.id;
  state.current = d.id || d.name;
  $('identity-title').textContent = name;
  $('rename-input').value = name;
  $('meta-input').value = JSON.stringify(d.metadata || {}, null, 2);
  const faces = d.face_list || [];
  const grid = $('identity-faces');
  grid.replaceChildren();
  if (!faces.length) grid.append(el('li', { class: 'empty', text: 'No faces stored.' }));
  for (const f of faces) {
    const box = el('div', { class: 'face' }, el('span', { class: 'avatar', 'aria-hidden': 'true', text: initials(name) }));
    const quality = typeof f.quality === 'number' ? `quality ${f.quality < 10 ? f.quality.toFixed(2) : Math.round(f.quality)}` : '';
    grid.append(el('li', { class: 'face-tile' },
      box,
      el('div', { class: 'meta' }, `#${f.face_id}`, quality ? ' · ' + quality : '', el('br'), fmt.date(f.created_at)),
      el('button', { type: 'button', class: 'ghost', text: 'Delete face',
                     'aria-label': `Delete face ${f.face_id} of ${name}`, onclick: () => deleteFace(state.current, f.face_id) })));
    api.imageUrl(cropUrl(f)).then((url) => box.replaceChildren(el('img', { src: url, alt: `Face ${f.face_id} of ${name}` })), () => {});
  }
}

function confirmAction(title, text, okLabel) {
  const dlg = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel;
  dlg.returnValue = '';
  dlg.showModal();
  $('confirm-cancel').focus();
  return new Promise((resolve) => dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true }));
}

async function deleteFace(id, faceId) {
  if (!await confirmAction('Delete this face?', `Face #${faceId} of ${id} will be removed from the gallery. This cannot be undone.`, 'Delete face')) return;
  try {
    await api.del(`${idPath(id)}/faces/${encodeURIComponent(faceId)}`);
    setStatus($('identity-status'), `Face #${faceId} deleted.`, 'ok');
    state.details.delete(id);
    await openIdentity(id);
    loadIdentities();
    loadHealth();
  } catch (e) {
    setStatus($('identity-status'), explain(e), 'bad');
  }
}

async function deleteIdentity() {
  const id = state.current;
  const entry = state.identities.find((i) => (i.id || i.name) === id);
  const n = entry && entry.faces !== undefined ? ` and their ${entry.faces} face${entry.faces === 1 ? '' : 's'}` : '';
  if (!await confirmAction(`Delete ${id}?`, `${id}${n} will be removed from the gallery. This cannot be undone.`, 'Delete person')) return;
  try {
    await api.del(idPath(id));
    $('identity-dialog').close();
    state.details.delete(id);
    setStatus($('gallery-status'), `${id} deleted.`, 'ok');
    await loadIdentities();
    setStatus($('gallery-status'), `${id} deleted.`, 'ok');
    loadHealth();
  } catch (e) {
    setStatus($('identity-status'), explain(e), 'bad');
  }
}

async function rename(ev) {
  ev.preventDefault();
  const id = state.current;
  const name = $('rename-input').value.trim();
  if (!name) { setStatus($('identity-status'), 'A name cannot be empty.', 'bad'); return; }
  if (name === id) return;
  try {
    const r = await api.patch(idPath(id), { name });
    state.details.delete(id);
    setStatus($('identity-status'), `Renamed to ${name}.`, 'ok');
    await openIdentity((r && (r.id || r.name)) || name);
    setStatus($('identity-status'), `Renamed to ${name}.`, 'ok');
    loadIdentities();
  } catch (e) {
    setStatus($('identity-status'), e.code === 'CONFLICT' ? `There is already a person named ${name}: choose another name.` : explain(e), 'bad');
  }
}

async function saveMetadata(ev) {
  ev.preventDefault();
  const text = $('meta-input').value;
  const meta = parseMetadata(text.trim() ? text : '{}');
  $('meta-input').setAttribute('aria-invalid', String(!meta.ok));
  if (!meta.ok) { setStatus($('identity-status'), meta.message, 'bad'); return; }
  try {
    await api.patch(idPath(state.current), { metadata: meta.value || {} });
    state.details.delete(state.current);
    setStatus($('identity-status'), 'Metadata saved.', 'ok');
    loadIdentities();
  } catch (e) {
    setStatus($('identity-status'), explain(e), 'bad');
  }
}

async function addPhotosTo(id, files, list) {
  if (!id || !files.length) return;
  list.replaceChildren();
  setStatus($('identity-status'), `Adding ${files.length} photo${files.length > 1 ? 's' : ''}…`, 'busy');
  const ok = await enrolPhotos(id, files, undefined, list, true);
  setStatus($('identity-status'), `${ok} of ${files.length} added.`, ok === files.length ? 'ok' : 'bad');
  state.details.delete(id);
  const d = await identityDetail(id).catch(() => null);
  if (d) fillIdentity(d);
  loadIdentities();
  loadHealth();
}

function initGallery() {
  $('enrol-form').addEventListener('submit', submitEnrol);
  $('enrol-files').addEventListener('change', (ev) => { addPending([...ev.target.files]); ev.target.value = ''; });
  $('enrol-reset').addEventListener('click', () => {
    pending.splice(0);
    renderPending();
    $('enrol-results').replaceChildren();
    setStatus($('enrol-status'), '');
  });
  $('search').addEventListener('input', () => { state.shown = PAGE_SIZE; renderIdentities(); });
  $('refresh').addEventListener('click', () => { state.details.clear(); loadIdentities(); loadHealth(); });
  $('show-more').addEventListener('click', () => { state.shown += PAGE_SIZE; renderIdentities(); });
  $('identity-close').addEventListener('click', () => $('identity-dialog').close());
  $('identity-delete').addEventListener('click', deleteIdentity);
  $('rename-form').addEventListener('submit', rename);
  $('meta-form').addEventListener('submit', saveMetadata);
  $('add-files').addEventListener('change', (ev) => {
    const files = [...ev.target.files];
    ev.target.value = '';
    addPhotosTo(state.current, files, $('add-results'));
  });
}

// ---- Analyze --------------------------------------------------------------------------------------

const analyze = {
  file: null,
  async run(file) {
    if (file) analyze.file = file;
    file = analyze.file;
    if (!file) return;
    const status = $('analyze-status');
    const cards = $('face-cards');
    $('analyze-again').disabled = false;
    let threshold;
    try { threshold = thresholdOf($('analyze-threshold')); } catch (e) { setStatus(status, e.message, 'bad'); return; }
    let img;
    try { img = await loadImage(file); } catch (e) { setStatus(status, `${file.name}: ${e.message}.`, 'bad'); return; }
    $('analyze-stage').hidden = false;
    drawStage($('analyze-canvas'), img, []);
    cards.replaceChildren();
    setStatus(status, `Analysing ${file.name || 'the photo'}…`, 'busy');
    const withGallery = !state.health || !!state.health.gallery || !state.health.version;
    const [a, id] = await Promise.allSettled([
      api.post('/v1/analyze', { image: file }),
      withGallery ? api.post('/v1/identify', { image: file, threshold }) : Promise.reject(new ApiError(409, 'FAILED_PRECONDITION', 'no gallery')),
    ]);
    if (a.status === 'rejected') {
      setStatus(status, explain(a.reason), 'bad');
      if (a.reason.status === 401) askForKey();
      return;
    }
    const faces = a.value.faces || [];
    const idFaces = id.status === 'fulfilled' ? id.value.faces || [] : [];
    const idError = id.status === 'rejected' ? id.reason : null;
    const matched = faces.map((f) => {
      let best = null, bestIou = 0.3;
      for (const g of idFaces) {
        const o = iou(f.box, g.box);
        if (o > bestIou) { best = g; bestIou = o; }
      }
      return best;
    });
    drawStage($('analyze-canvas'), img, faces.map((f, i) => ({
      box: f.box,
      colour: FACE_COLOURS[i % FACE_COLOURS.length],
      label: `${i + 1}` + (matched[i] && matched[i].identity ? ' ' + matched[i].identity : ''),
    })));
    $('analyze-canvas').setAttribute('aria-label', `${file.name || 'The photo'} with ${faces.length} face${faces.length === 1 ? '' : 's'} boxed`);
    faces.forEach((f, i) => cards.append(faceCard(f, i, matched[i], idError, id.status === 'fulfilled' ? id.value.threshold : undefined)));
    const names = matched.filter((m) => m && m.identity).map((m) => m.identity);
    if (!faces.length) {
      setStatus(status, 'No face found in this photo: try a sharper, front-facing photo with the face large enough.', 'bad');
    } else {
      setStatus(status, `${faces.length} face${faces.length === 1 ? '' : 's'} found` +
                (names.length ? `: ${names.join(', ')}` : idError ? '' : ', no one from the gallery') + '.', 'ok');
    }
  },
};

function faceCard(f, i, match, idError, threshold) {
  const colour = FACE_COLOURS[i % FACE_COLOURS.length];
  const rows = [];
  const row = (k, ...v) => rows.push(el('dt', { text: k }), el('dd', {}, ...v));
  let who;
  if (idError) {
    who = el('span', { class: 'who unknown', text: isNoGallery(idError) ? 'no gallery' : 'not identified' });
    if (!isNoGallery(idError)) row('Identify', explain(idError));
  } else if (match && match.identity) {
    who = el('span', { class: 'who', text: match.identity });
    row('Match', el('span', { class: 'pill ok', text: fmt.score(match.score) }), typeof threshold === 'number' ? ` ≥ threshold ${fmt.score(threshold)}` : '');
  } else {
    who = el('span', { class: 'who unknown', text: 'Unknown person' });
    if (match && match.matches && match.matches.length) {
      const m = match.matches[0];
      row('Closest', `${m.name} `, el('span', { class: 'pill muted', text: fmt.score(m.score) }), typeof threshold === 'number' ? ` < ${fmt.score(threshold)}` : '');
    }
  }
  if (match && match.identity && match.matches && match.matches.length > 1) {
    row('Others', match.matches.slice(1, 3).map((m) => `${m.name} ${fmt.score(m.score)}`).join(', '));
  }
  if (f.liveness) {
    const l = f.liveness;
    row('Liveness', el('span', { class: 'pill ' + (l.live ? 'ok' : 'bad'), text: l.live ? 'live' : 'spoof' }),
        ` ${fmt.score(l.score)}` + (typeof l.threshold === 'number' ? ` (threshold ${fmt.score(l.threshold)})` : ''));
  }
  if (f.deepfake) {
    const d = f.deepfake;
    row('Deepfake', el('span', { class: 'pill ' + (d.fake ? 'bad' : 'ok'), text: d.fake ? 'fake' : 'real' }),
        ` ${fmt.score(d.score)}` + (typeof d.threshold === 'number' ? ` (threshold ${fmt.score(d.threshold)})` : ''));
  }
  if (typeof f.quality === 'number') row('Quality', fmt.score(f.quality));
  row('Detection', fmt.score(f.score));
  const at = f.attributes || {};
  if (typeof at.age === 'number') row('Age', `${Math.round(at.age)}`);
  if (at.gender) row('Gender', `${at.gender.label} (${fmt.pct(at.gender.score)})`);
  if (at.expression) row('Expression', `${at.expression.label} (${fmt.pct(at.expression.score)})`);
  if (at.pose) row('Pose', `yaw ${Math.round(at.pose.yaw)}°, pitch ${Math.round(at.pose.pitch)}°, roll ${Math.round(at.pose.roll)}°`);
  if (at.eyes_open) row('Eyes open', `left ${fmt.pct(at.eyes_open.left)}, right ${fmt.pct(at.eyes_open.right)}`);
  const [x1, y1, x2, y2] = f.box;
  row('Box', `${Math.round(x2 - x1)}×${Math.round(y2 - y1)} px at ${Math.round(x1)}, ${Math.round(y1)}`);
  return el('li', { class: 'face-card', style: `--c: ${colour}`, 'data-face': String(i + 1) },
    el('header', {}, el('span', { class: 'badge', 'aria-hidden': 'true', text: String(i + 1) }),
       el('span', { class: 'sr-only', text: `Face ${i + 1}: ` }), who),
    el('dl', { class: 'kv' }, rows));
}

function initAnalyze() {
  $('analyze-file').addEventListener('change', (ev) => {
    const f = ev.target.files[0];
    if (f) analyze.run(f);
  });
  $('analyze-again').addEventListener('click', () => analyze.run());
  $('analyze-threshold').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') analyze.run(); });
}

// ---- Verify ---------------------------------------------------------------------------------------

const verify = {
  a: null,
  b: null,
  images: {},
  mode() { return document.querySelector('input[name=verify-mode]:checked').value; },
  async set(side, file) {
    verify[side] = file;
    const stage = $('verify-stage-' + side);
    try {
      verify.images[side] = await loadImage(file);
      stage.hidden = false;
      drawStage($('verify-canvas-' + side), verify.images[side], []);
      $('verify-canvas-' + side).setAttribute('aria-label', `Photo ${side.toUpperCase()}: ${file.name || 'camera photo'}`);
    } catch (e) {
      verify[side] = null;
      stage.hidden = true;
      setStatus($('verify-status'), `${file.name}: ${e.message}.`, 'bad');
    }
    $('verdict').hidden = true;
    verify.update();
    if (verify.ready()) verify.run();
  },
  ready() { return !!verify.a && (verify.mode() === 'identity' ? !!$('verify-identity').value : !!verify.b); },
  update() {
    const byId = verify.mode() === 'identity';
    $('picker-b').hidden = byId;
    $('verify-stage-b').hidden = byId || !verify.b;
    $('verify-identity-field').hidden = !byId;
    $('verify-identity-faces').hidden = !byId;
    $('side-b-title').textContent = byId ? 'Enrolled person' : 'Photo B';
    $('verify-run').disabled = !verify.ready();
  },
  async run() {
    const status = $('verify-status');
    const verdict = $('verdict');
    if (!verify.ready()) { setStatus(status, 'Choose both photos first.', 'bad'); return; }
    let threshold;
    try { threshold = thresholdOf($('verify-threshold')); } catch (e) { setStatus(status, e.message, 'bad'); return; }
    const byId = verify.mode() === 'identity';
    const identity = $('verify-identity').value;
    setStatus(status, 'Comparing…', 'busy');
    verdict.hidden = true;
    $('verify-run').disabled = true;
    try {
      const r = byId ? await api.post('/v1/verify', { image: verify.a, identity, threshold })
                     : await api.post('/v1/verify', { image_a: verify.a, image_b: verify.b, threshold });
      const colour = r.match ? '#12b886' : '#e03131';
      if (r.box_a) drawStage($('verify-canvas-a'), verify.images.a, [{ box: r.box_a, colour, label: 'A' }]);
      if (r.box_b && !byId) drawStage($('verify-canvas-b'), verify.images.b, [{ box: r.box_b, colour, label: 'B' }]);
      showVerdict(r, byId ? identity : null);
      setStatus(status, '');
    } catch (e) {
      setStatus(status, explain(e), 'bad');
      if (e.status === 401) askForKey();
    } finally {
      $('verify-run').disabled = !verify.ready();
    }
  },
};

function showVerdict(r, identity) {
  const v = $('verdict');
  const same = !!r.match;
  v.className = 'verdict ' + (same ? 'same' : 'different');
  // The similarity is a cosine in [-1, 1]; the gauge shows [0, 1] where every threshold lies.
  const pos = (x) => `${Math.max(0, Math.min(1, x)) * 100}%`;
  const headline = identity ? (same ? `Same person: ${identity}` : `Not ${identity}`) : (same ? 'Same person' : 'Different people');
  v.replaceChildren(
    el('div', { class: 'headline', id: 'verdict-headline', text: headline }),
    el('div', { text: `Similarity ${fmt.score(r.similarity)} ${same ? '≥' : '<'} threshold ${fmt.score(r.threshold)}` }),
    el('div', { class: 'gauge', role: 'img', 'aria-label': `similarity ${fmt.score(r.similarity)}, threshold ${fmt.score(r.threshold)}` },
       el('span', { class: 'fill', style: `width: ${pos(r.similarity)}` }),
       el('span', { class: 'mark', style: `left: calc(${pos(r.threshold)} - 1px)`, title: 'threshold' })),
    el('div', { class: 'scale', 'aria-hidden': 'true' }, el('span', { text: '0' }),
       el('span', { class: r.threshold > 0.6 ? 'at right' : 'at', style: `left: ${pos(r.threshold)}`,
                    text: r.threshold > 0.6 ? `threshold ${fmt.score(r.threshold)} ▲` : `▲ threshold ${fmt.score(r.threshold)}` }),
       el('span', { text: '1' })));
  for (const k of ['deepfake_a', 'deepfake_b']) {
    if (r[k]) v.append(el('div', { text: `Photo ${k.slice(-1).toUpperCase()} deepfake score ${fmt.score(r[k].score)}: ${r[k].fake ? 'looks fake' : 'looks real'}` }));
  }
  v.hidden = false;
}

function fillIdentitySelect() {
  const sel = $('verify-identity');
  const before = sel.value;
  sel.replaceChildren(...state.identities.map((i) => el('option', { value: i.id || i.name, text: i.name || i.id })));
  if (!state.identities.length) sel.append(el('option', { value: '', text: 'no one enrolled' }));
  if (before && state.identities.some((i) => (i.id || i.name) === before)) sel.value = before;
  showIdentityFaces();
  verify.update();
}

async function showIdentityFaces() {
  const strip = $('verify-identity-faces');
  const id = $('verify-identity').value;
  strip.replaceChildren();
  if (!id) return;
  try {
    const d = await identityDetail(id);
    for (const f of (d.face_list || []).slice(0, 6)) {
      const li = el('li', {});
      strip.append(li);
      api.imageUrl(cropUrl(f)).then((url) => li.append(el('img', { src: url, alt: `Face ${f.face_id} of ${id}` })), () => li.remove());
    }
  } catch (e) { /* the select still works without the pictures */ }
}

function initVerify() {
  $('verify-file-a').addEventListener('change', (ev) => ev.target.files[0] && verify.set('a', ev.target.files[0]));
  $('verify-file-b').addEventListener('change', (ev) => ev.target.files[0] && verify.set('b', ev.target.files[0]));
  for (const r of document.querySelectorAll('input[name=verify-mode]')) {
    r.addEventListener('change', () => { $('verdict').hidden = true; fillIdentitySelect(); });
  }
  $('verify-identity').addEventListener('change', () => { $('verdict').hidden = true; showIdentityFaces(); verify.update(); });
  $('verify-run').addEventListener('click', () => verify.run());
  $('verify-threshold').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') verify.run(); });
}

// ---- System -----------------------------------------------------------------------------------------

function shortProvider(p) {
  return p ? p.replace(/ExecutionProvider$/, '') : '';
}

async function loadSystem() {
  const status = $('system-status');
  const body = $('models-table').tBodies[0];
  setStatus(status, 'Loading…', 'busy');
  try {
    const [m, h] = await Promise.all([api.get('/v1/models'), api.get('/health').catch(() => ({}))]);
    const services = h.services || [];
    body.replaceChildren();
    for (const model of m.models || []) {
      const svc = services.find((s) => s.model === model.id);
      const provider = model.provider || (svc && svc.loaded ? svc.provider : '');
      let runs;
      if (provider) {
        runs = el('span', {}, el('span', { class: 'pill ' + (/CPU/.test(provider) ? 'muted' : 'ok'), text: shortProvider(provider) }));
        const why = (svc && svc.cuda_unavailable_reason) || model.cuda_unavailable_reason;
        if (why) runs.append(el('div', { class: 'hint', text: 'CUDA not used: ' + why }));
      } else {
        runs = el('span', { class: 'hint', text: 'not loaded yet (loads on first use)' });
      }
      body.append(el('tr', {},
        el('td', {}, el('code', { text: model.id })),
        el('td', { text: model.task || '' }),
        el('td', { text: model.family || '' }),
        el('td', { text: model.status || '' }),
        el('td', {}, runs)));
    }
    const facts = $('system-facts');
    facts.replaceChildren();
    const fact = (k, v) => facts.append(el('dt', { text: k }), el('dd', { text: String(v) }));
    if (h.version) fact('Version', h.version);
    if (typeof m.match_threshold === 'number') fact('Match threshold', fmt.score(m.match_threshold));
    if (h.gallery) {
      fact('Gallery', `${count(h.gallery.identities, 'person', 'people')}, ${count(h.gallery.faces, 'face')} (${h.gallery.store}, index ${h.gallery.index})`);
      if (h.gallery.model_id) fact('Embeddings from', h.gallery.model_id);
    } else if (h.version) {
      fact('Gallery', 'none (identification and enrolment are off)');
    }
    setStatus(status, '');
  } catch (e) {
    setStatus(status, explain(e), 'bad');
    if (e.status === 401) askForKey();
  }
}

// ---- Start ---------------------------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  initKey();
  initCamera();
  initDrops();
  initGallery();
  initAnalyze();
  initVerify();
  window.addEventListener('hashchange', () => { route(); $('main').focus({ preventScroll: true }); });
  route();
  loadHealth();
  loadIdentities();
});
