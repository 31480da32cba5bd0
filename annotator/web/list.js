const guide = element.querySelector('.s2-guide'), facesBox = element.querySelector('.s2-faces');
const groupsBox = element.querySelector('.s2-groups');
const esc = (t) => String(t).replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
function render() {
  const v = props.value || {};
  guide.textContent = v.guide || '';
  const faces = v.faces || [];
  let fh = '';
  if (faces.length) {
    fh = '<span>Faces:</span>' + faces.map((f, i) => '<button type="button" data-face="' + i + '" class="'
      + (i === v.active ? 'on' : '') + '" title="' + (f.box ? 'boxed' : 'no box') + (f.prefilled ? ', pre-placed' : '')
      + '">' + (i + 1) + ' · ' + f.placed + '/' + f.total + '</button>').join('')
      + '<button type="button" data-add="1" title="drag a box around another face (b)">+ box</button>';
  }
  facesBox.innerHTML = fh;
  groupsBox.innerHTML = (v.groups || []).map((g) => '<div class="s2-row" style="--c:' + g.color + '">'
    + '<div class="s2-name">' + esc(g.title) + ' <i>' + g.done + '/' + g.items.length + '</i></div><div class="s2-chips">'
    + g.items.map((it) => '<button type="button" class="s2-chip ' + it.state + (it.i === v.next ? ' next' : '')
      + (it.i === v.selected ? ' sel' : '') + '" data-i="' + it.i + '" title="' + esc(it.title) + ' (' + it.state
      + ')">' + it.n + '</button>').join('') + '</div></div>').join('');
}
element.addEventListener('click', (e) => {
  const b = e.target.closest('button'); if (!b) return;
  if (b.dataset.add) { const a = document.getElementById('btn-add-face'); if (a) a.click(); return; }
  if (b.dataset.face !== undefined) { trigger('pick', {face: Number(b.dataset.face)}); return; }
  if (b.dataset.i !== undefined) {
    const v = props.value || {}, i = Number(b.dataset.i);
    trigger('pick', {index: v.selected === i ? null : i});
  }
});
watch('value', render);
render();
