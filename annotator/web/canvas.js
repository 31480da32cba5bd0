const $ = (s) => element.querySelector(s);
const wrap = $('.s2-wrap'), cv = $('.s2-canvas'), hud = $('.s2-hud'), emptyBox = $('.s2-empty');
const ctx = cv.getContext('2d');
const PREF_KEY = 's2ld-annotator-view';
const MARKERS = {S: 2, M: 3, L: 4.5};
let prefs = {zoom: null, marker: 'M', labels: true, grid: true, smooth: false, whole: false};
try { Object.assign(prefs, JSON.parse(localStorage.getItem(PREF_KEY) || '{}')); } catch (e) {}
const savePrefs = () => { try { localStorage.setItem(PREF_KEY, JSON.stringify(prefs)); } catch (e) {} };
let v = {}, faces = [], img = null, imgSrc = null, mode = 'points';
let laid = '', z = 1, r0 = [0, 0], rsize = [1, 1], drag = null, rect = null, hover = null, selected = null;

const clone = (o) => JSON.parse(JSON.stringify(o));
const activeFace = () => faces[v.active] || null;
const toImg = (e) => {
  const b = cv.getBoundingClientRect();
  const u = e.clientX - b.left, w = e.clientY - b.top;
  return {u, w, x: u / z + r0[0] - 0.5, y: w / z + r0[1] - 0.5};
};
const toScreen = (x, y) => [(x + 0.5 - r0[0]) * z, (y + 0.5 - r0[1]) * z];
const round3 = (a) => Math.round(a * 1000) / 1000;
const nextIndex = () => { const f = activeFace(); if (!f) return null;
  const i = f.points.findIndex((p) => p === null); return i < 0 ? null : i; };

function region() {
  const f = activeFace();
  if (prefs.whole || mode !== 'points' || !f || !f.box) return [0, 0, v.w, v.h];
  const [bx, by, bw, bh] = f.box, m = 0.25 * Math.max(bw, bh);
  const x0 = Math.max(0, Math.floor(bx + 0.5 - m)), y0 = Math.max(0, Math.floor(by + 0.5 - m));
  const x1 = Math.min(v.w, Math.ceil(bx + 0.5 + bw + m)), y1 = Math.min(v.h, Math.ceil(by + 0.5 + bh + m));
  return [x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0)];
}

function fitZoom(rw, rh) {
  const availW = Math.max(320, wrap.clientWidth - 4);
  const top = wrap.getBoundingClientRect().top;
  const availH = Math.max(600, window.innerHeight - Math.max(0, top) - 60);
  const f = Math.min(availW / rw, availH / rh);
  return f >= 2 ? Math.floor(f) : Math.max(0.25, f);
}

function layout() {
  if (!img || !img.complete || v.empty) { draw(); return; }
  const [x0, y0, rw, rh] = region();
  r0 = [x0, y0]; rsize = [rw, rh];
  // prefs.zoom: a number the user chose, 0 = fit, null = the server's --zoom (a number or 'fit')
  const chosen = prefs.zoom === null ? (v.zoom === 'fit' ? 0 : Number(v.zoom) || 0) : prefs.zoom;
  const isFit = !chosen;
  z = isFit ? fitZoom(rw, rh) : Math.min(64, Math.max(1, chosen));
  const dpr = window.devicePixelRatio || 1, W = Math.round(rw * z), H = Math.round(rh * z);
  cv.style.width = W + 'px'; cv.style.height = H + 'px';
  cv.width = Math.round(W * dpr); cv.height = Math.round(H * dpr);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  laid = v.key + '#' + v.rev;
  $('.s2-zoom').textContent = '×' + (Number.isInteger(z) ? z : z.toFixed(2)) + (isFit ? ' fit' : '');
  draw();
}

function marker(x, y, color, r, occluded, alpha) {
  const [u, w] = toScreen(x, y);
  ctx.globalAlpha = alpha;
  ctx.beginPath(); ctx.arc(u, w, r, 0, 2 * Math.PI);
  if (occluded) {
    ctx.lineWidth = 3; ctx.strokeStyle = 'rgba(0,0,0,0.85)'; ctx.stroke();
    ctx.lineWidth = 1.5; ctx.strokeStyle = color; ctx.stroke();
  } else {
    ctx.fillStyle = color; ctx.fill();
    ctx.lineWidth = 1; ctx.strokeStyle = 'rgba(0,0,0,0.85)'; ctx.stroke();
  }
  ctx.globalAlpha = 1;
  return [u, w];
}

function draw() {
  emptyBox.style.display = v.empty ? 'block' : 'none';
  cv.style.display = v.empty ? 'none' : 'block';
  if (v.empty) { emptyBox.textContent = v.message || ''; hud.innerHTML = '&nbsp;'; return; }
  if (!img || !img.complete) return;
  const W = rsize[0] * z, H = rsize[1] * z;
  ctx.imageSmoothingEnabled = !!prefs.smooth;
  ctx.clearRect(0, 0, W, H);
  ctx.drawImage(img, r0[0], r0[1], rsize[0], rsize[1], 0, 0, W, H);
  if (prefs.grid && z >= 6) {
    ctx.strokeStyle = 'rgba(0,0,0,0.28)'; ctx.lineWidth = 1; ctx.beginPath();
    for (let i = 1; i < rsize[0]; i++) { const u = Math.round(i * z) + 0.5; ctx.moveTo(u, 0); ctx.lineTo(u, H); }
    for (let j = 1; j < rsize[1]; j++) { const w = Math.round(j * z) + 0.5; ctx.moveTo(0, w); ctx.lineTo(W, w); }
    ctx.stroke();
  }
  faces.forEach((f, fi) => {
    if (!f.box) return;
    const [u0, w0] = toScreen(f.box[0], f.box[1]);  // a box's left edge x is at screen (x + 0.5 - r0) z
    const a = fi === v.active;
    ctx.setLineDash(a ? [] : [6, 4]); ctx.lineWidth = a ? 2 : 1.5;
    ctx.strokeStyle = 'rgba(0,0,0,0.7)'; ctx.strokeRect(u0 - 1, w0 - 1, f.box[2] * z + 2, f.box[3] * z + 2);
    ctx.strokeStyle = a ? '#facc15' : '#fde68a'; ctx.strokeRect(u0, w0, f.box[2] * z, f.box[3] * z);
    ctx.setLineDash([]);
    ctx.font = 'bold 12px sans-serif'; ctx.lineWidth = 3; ctx.strokeStyle = '#000';
    ctx.strokeText('face ' + (fi + 1), u0 + 3, w0 + 13); ctx.fillStyle = '#facc15';
    ctx.fillText('face ' + (fi + 1), u0 + 3, w0 + 13);
  });
  const r = MARKERS[prefs.marker] || 3;
  faces.forEach((f, fi) => {
    const a = fi === v.active;
    f.points.forEach((p, i) => {
      if (!p) return;
      const [u, w] = marker(p[0], p[1], v.colors[i], a ? r : Math.max(1.5, r - 1), !f.visible[i], a ? 1 : 0.55);
      if (a && (i === selected || (drag && drag.moved && i === drag.i))) {
        ctx.beginPath(); ctx.arc(u, w, r + 4, 0, 2 * Math.PI);
        ctx.lineWidth = 3; ctx.strokeStyle = '#000'; ctx.stroke();
        ctx.lineWidth = 1.5; ctx.strokeStyle = '#fff'; ctx.stroke();
      }
      if (a && prefs.labels) {
        ctx.font = '10px sans-serif'; ctx.lineWidth = 2.5; ctx.strokeStyle = 'rgba(0,0,0,0.9)';
        ctx.strokeText(String(i + 1), u + r + 1.5, w - r - 1); ctx.fillStyle = '#fff';
        ctx.fillText(String(i + 1), u + r + 1.5, w - r - 1);
      }
    });
  });
  if (rect) {
    const [u0, w0] = toScreen(Math.min(rect.x0, rect.x1) - 0.5, Math.min(rect.y0, rect.y1) - 0.5);
    ctx.lineWidth = 2; ctx.strokeStyle = '#facc15'; ctx.setLineDash([5, 3]);
    ctx.strokeRect(u0, w0, Math.abs(rect.x1 - rect.x0) * z, Math.abs(rect.y1 - rect.y0) * z);
    ctx.setLineDash([]);
  }
  showHud();
}

function showHud() {
  if (v.empty || !v.names) return;
  const parts = [];
  if (faces.length > 1) parts.push('face ' + (v.active + 1) + ' of ' + faces.length);
  if (mode !== 'points') parts.push('<b>drag a box around ' + (mode === 'add' ? 'a new face' : 'this face')
      + '</b> (Esc cancels)');
  else if (selected !== null) parts.push('<b>' + v.names[selected] + '</b>: click or drag to move');
  else { const n = nextIndex(); parts.push(n === null ? 'all points placed' : 'next <b>' + v.names[n] + '</b>'); }
  if (hover) parts.push('x ' + hover.x.toFixed(2) + ', y ' + hover.y.toFixed(2));
  hud.innerHTML = parts.join(' · ');
}

function sync() {
  v = props.value || {};
  markModes();  // a re-rendered template resets the toolbar's checkboxes
  faces = clone(v.faces || []);
  selected = (v.selected === undefined) ? null : v.selected;
  if (v.empty) { img = null; imgSrc = null; draw(); return; }
  if (v.image !== imgSrc) {
    imgSrc = v.image; img = new Image();
    img.onload = () => layout();
    img.src = v.image;
  } else layout();
}

function send(op) { trigger('edit', Object.assign({key: v.key}, op)); }

function hit(pt) {
  const f = activeFace(); if (!f) return null;
  const r = (MARKERS[prefs.marker] || 3) + 5;
  let best = null, bd = r * r;
  f.points.forEach((p, i) => {
    if (!p) return;
    const [u, w] = toScreen(p[0], p[1]), d = (u - pt.u) ** 2 + (w - pt.w) ** 2;
    if (d <= bd) { bd = d; best = i; }
  });
  return best;
}

const inBox = (b, p) => b && p.x >= b[0] && p.x <= b[0] + b[2] && p.y >= b[1] && p.y <= b[1] + b[3];

cv.addEventListener('pointerdown', (e) => {
  if (e.button !== 0 || v.empty) return;
  cv.setPointerCapture(e.pointerId); cv.focus({preventScroll: true});
  const p = toImg(e);
  if (mode !== 'points') { rect = {x0: p.x + 0.5, y0: p.y + 0.5, x1: p.x + 0.5, y1: p.y + 0.5}; return; }
  drag = {i: hit(p), u: p.u, w: p.w, moved: false};
});

cv.addEventListener('pointermove', (e) => {
  if (v.empty) return;
  const p = toImg(e);
  hover = p;
  if (rect) { rect.x1 = p.x + 0.5; rect.y1 = p.y + 0.5; draw(); return; }
  if (drag && drag.i !== null) {
    if (!drag.moved && Math.hypot(p.u - drag.u, p.w - drag.w) < 3) { showHud(); return; }
    drag.moved = true;
    const x = Math.min(Math.max(p.x, -0.5), v.w - 0.5), y = Math.min(Math.max(p.y, -0.5), v.h - 0.5);
    activeFace().points[drag.i] = [x, y];
    draw(); return;
  }
  showHud();
});

cv.addEventListener('pointerleave', () => { hover = null; showHud(); });

cv.addEventListener('pointerup', (e) => {
  if (v.empty) return;
  const p = toImg(e), f = activeFace();
  if (rect) {
    const x0 = Math.max(0, Math.min(rect.x0, rect.x1)), y0 = Math.max(0, Math.min(rect.y0, rect.y1));
    const x1 = Math.min(v.w, Math.max(rect.x0, rect.x1)), y1 = Math.min(v.h, Math.max(rect.y0, rect.y1));
    rect = null;
    const op = mode === 'add' ? 'add_face' : 'set_box';
    mode = 'points'; markModes();
    if (x1 - x0 >= 1 && y1 - y0 >= 1) {
      send({op, face: v.active, box: [round3(x0 - 0.5), round3(y0 - 0.5), round3(x1 - x0), round3(y1 - y0)]});
    }
    layout(); return;
  }
  if (!drag || !f) return;
  const d = drag; drag = null;
  const x = round3(Math.min(Math.max(p.x, -0.5), v.w - 0.5)), y = round3(Math.min(Math.max(p.y, -0.5), v.h - 0.5));
  if (d.i !== null && d.moved) {
    f.points[d.i] = [x, y]; selected = null;
    send({op: 'move', face: v.active, index: d.i, x, y}); draw(); return;
  }
  if (d.i !== null) {
    selected = selected === d.i ? null : d.i;
    send({op: 'select', face: v.active, index: selected}); draw(); return;
  }
  const other = faces.findIndex((g, gi) => gi !== v.active && inBox(g.box, p));
  if (other >= 0 && !inBox(f.box, p)) { send({op: 'face', face: other}); return; }
  if (selected !== null) {
    f.points[selected] = [x, y];
    send({op: 'move', face: v.active, index: selected, x, y}); selected = null; draw(); return;
  }
  const n = nextIndex();
  if (n !== null) {
    f.points[n] = [x, y]; f.visible[n] = true;
    send({op: 'place', face: v.active, index: n, x, y}); draw(); return;
  }
  const near = hit({u: p.u, w: p.w}) ?? f.points.reduce((b, q, i) => {
    const dd = q ? (q[0] - x) ** 2 + (q[1] - y) ** 2 : Infinity; return dd < b[1] ? [i, dd] : b; }, [null, Infinity])[0];
  selected = near; send({op: 'select', face: v.active, index: near}); draw();
});

cv.addEventListener('wheel', (e) => {
  if (v.empty) return;
  e.preventDefault();
  prefs.zoom = zoomStep(e.deltaY < 0 ? 1 : -1);
  savePrefs(); layout();
}, {passive: false});

function markModes() {
  $('#btn-add-face').classList.toggle('on', mode === 'add');
  $('#btn-set-box').classList.toggle('on', mode === 'box');
  $('#btn-whole').textContent = prefs.whole ? 'Face view' : 'Whole image';
  $('#btn-marker').textContent = 'Markers: ' + prefs.marker;
  for (const name of ['labels', 'grid', 'smooth']) $('#btn-' + name).classList.toggle('on', !!prefs[name]);
  showHud();
}
const LADDER = [1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64];
const zoomStep = (dir) => dir > 0 ? (LADDER.find((s) => s > z + 1e-9) || 64)
                                  : ([...LADDER].reverse().find((s) => s < z - 1e-9) || 1);
const setZoom = (val) => { prefs.zoom = val; savePrefs(); layout(); };
$('#btn-zoom-in').addEventListener('click', () => setZoom(zoomStep(1)));
$('#btn-zoom-out').addEventListener('click', () => setZoom(zoomStep(-1)));
$('#btn-fit').addEventListener('click', () => setZoom(0));
$('#btn-marker').addEventListener('click', () => {
  prefs.marker = {S: 'M', M: 'L', L: 'S'}[prefs.marker] || 'M'; savePrefs(); markModes(); draw(); });
for (const name of ['labels', 'grid', 'smooth']) {
  $('#btn-' + name).addEventListener('click', () => { prefs[name] = !prefs[name]; savePrefs(); markModes(); draw(); });
}
$('#btn-whole').addEventListener('click', () => { prefs.whole = !prefs.whole; savePrefs(); markModes(); layout(); });
$('#btn-add-face').addEventListener('click', () => { if (v.empty) return;
  mode = mode === 'add' ? 'points' : 'add'; markModes(); layout(); });
$('#btn-set-box').addEventListener('click', () => { if (v.empty) return;
  mode = mode === 'box' ? 'points' : 'box'; markModes(); layout(); });
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && (mode !== 'points' || rect)) { mode = 'points'; rect = null; markModes(); layout(); }
});
window.addEventListener('resize', () => layout());
cv.s2ldState = () => ({key: v.key, rev: v.rev, laid, mode, zoom: z, region: [r0[0], r0[1], rsize[0], rsize[1]], faces, selected,
                            prefs: clone(prefs)});
markModes();
watch('value', sync);
sync();
