// ExperimentGrid's dashboard. It reads only the silo's JSON API (/api) and draws with ECharts; no build step.
// Routes: / lists the sweeps; /sweeps/{id} shows one sweep, polled every POLL_MS; #trial=ID picks a trial's details.
(() => {
  'use strict';

  const POLL_MS = 2000;
  const PAGE_SIZE = 100;
  const LEADERBOARD_ROWS = 10;
  // Every configuration of the sweep, for the Pareto front: the leaderboard table shows the first LEADERBOARD_ROWS.
  const ALL_ROWS = 100000;
  const DONE = new Set(['completed', 'failed', 'cancelled']);

  const app = document.getElementById('app');
  const updated = document.getElementById('updated');
  const charts = new Map();

  // ---- small helpers ----

  const html = (strings, ...values) => strings.reduce((out, s, i) => out + s + (i < values.length ? values[i] : ''), '');
  const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const fixed = (value, digits = 4) => (value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits));
  // An empty chart says why, over its axes.
  const noData = (data, text) => (data.length > 0 ? [] : [{
    type: 'text', left: 'center', top: 'middle', style: { text, fill: '#6b7280', fontSize: 14 },
  }]);
  const badge = (status) => `<span class="status ${esc(status)}">${esc(status)}</span>`;

  function duration(seconds) {
    if (seconds === null || !Number.isFinite(seconds)) return '–';
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(body.error || `${path}: HTTP ${response.status}`), { status: response.status });
    return body;
  }

  function showUpdated(error) {
    updated.className = error ? 'error' : 'muted';
    updated.textContent = error ? `API: ${error.message}; retrying` : `updated ${new Date().toLocaleTimeString()}`;
  }

  // A chart per element id, made once and redrawn in place; the element must already be in the page.
  function draw(id, option) {
    const element = document.getElementById(id);
    if (!element) return;
    let chart = charts.get(id);
    if (!chart || chart.getDom() !== element) {
      chart?.dispose();
      chart = echarts.init(element, null, { renderer: 'canvas' });
      charts.set(id, chart);
    }
    chart.setOption({ animation: false, ...option }, { notMerge: true });
  }

  window.addEventListener('resize', () => charts.forEach((chart) => chart.resize()));

  // Polls refresh() every POLL_MS after the previous one ends, until it returns false (nothing more will change).
  async function poll(refresh) {
    let more = true;
    try {
      more = await refresh();
      showUpdated(null);
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    } catch (error) {
      if (error.status === 404) {
        // No such sweep: there is nothing to wait for.
        app.innerHTML = `<h1>Not found</h1><p>${esc(error.message)}. <a href="/">All sweeps</a></p>`;
        updated.textContent = '';
        return;
      }
      // In the console too: a fault of the page's own would otherwise only show in its header.
      console.error(error);
      showUpdated(error);
    }
    if (more !== false) setTimeout(() => poll(refresh), POLL_MS);
  }

  // ---- the list of sweeps ----

  function listPage() {
    const offset = Math.max(0, Number(new URLSearchParams(location.search).get('offset')) || 0);
    document.title = 'Sweeps · ExperimentGrid';
    poll(async () => {
      const page = await getJson(`/api/sweeps?offset=${offset}&limit=${PAGE_SIZE}`);
      const rows = page.sweeps.map((s) => {
        const counts = Object.entries(s.trial_counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${esc(k)}`).join(', ');
        const objectives = s.objectives.map((o) => `${esc(o.metric)} (${o.direction === 'maximize' ? 'max' : 'min'})`).join(', ');
        return html`<tr>
          <td><a href="/sweeps/${encodeURIComponent(s.id)}">${esc(s.id)}</a></td><td>${esc(s.name)}</td>
          <td>${badge(s.status)}${s.end_reason ? ` <span class="muted">${esc(s.end_reason)}</span>` : ''}</td>
          <td>${objectives}</td><td>${counts || '<span class="muted">none yet</span>'}</td>
          <td>${esc(new Date(s.submitted_at).toLocaleString())}</td></tr>`;
      }).join('');
      const previous = offset > 0 ? `<a href="/?offset=${Math.max(0, offset - PAGE_SIZE)}">newer</a>` : '';
      const next = offset + PAGE_SIZE < page.total ? `<a href="/?offset=${offset + PAGE_SIZE}">older</a>` : '';
      app.innerHTML = html`<h1>Sweeps</h1>
        <section><div class="scroll"><table id="sweeps">
          <thead><tr><th>id</th><th>name</th><th>status</th><th>objectives</th><th>trials</th><th>submitted</th></tr></thead>
          <tbody>${rows || '<tr><td colspan="6" class="muted">No sweeps yet: submit one with grid sweep run.</td></tr>'}</tbody>
        </table></div>
        <div class="pager">${previous}${next}<span class="muted">${page.total} sweep(s)</span></div></section>`;
    });
  }

  // ---- one sweep ----

  // The hyperparameters' values come as text. A field of a few whole numbers (epochs, a seed) gets a category axis in
  // numeric order; any other field whose every value is a number a number axis (log where it spans two decades or
  // more); any other a category axis in order of appearance.
  function describeFields(trials) {
    const names = [...new Set(trials.flatMap((t) => Object.keys(t.hyperparameters)))];
    return names.map((name) => {
      const texts = [...new Set(trials.map((t) => t.hyperparameters[name]).filter((v) => v !== undefined && v !== null))];
      const numbers = texts.map(Number);
      const numeric = texts.length > 0 && numbers.every(Number.isFinite);
      if (numeric && texts.length <= 10 && numbers.every(Number.isInteger)) {
        return { name, numeric: false, log: false, categories: texts.slice().sort((a, b) => Number(a) - Number(b)) };
      }
      const log = numeric && numbers.every((n) => n > 0) && Math.max(...numbers) / Math.min(...numbers) >= 100;
      return { name, numeric, log, categories: numeric ? [] : texts };
    });
  }

  const fieldValue = (field, trial) => {
    const text = trial.hyperparameters[field.name];
    if (text === undefined || text === null) return null;
    return field.numeric ? Number(text) : text;
  };

  const objectiveValue = (sweep, trial, index) =>
    index === 0 ? trial.objective : (trial.metrics[sweep.objectives[index].metric] ?? null);

  // Seconds left of a running trial at its average pace so far.
  function trialEta(trial) {
    const p = trial.progress;
    if (trial.status !== 'running' || !p || !(p.step > 0) || !(p.total_steps > 0) || p.elapsed_seconds === null) return null;
    return p.elapsed_seconds * (p.total_steps - p.step) / p.step;
  }

  // A rough estimate for the sweep: what its running trials have left, plus its pending trials (and the grid points not
  // yet suggested, where the space is finite) each taking as long as a running trial takes in all, shared over the
  // trials running now (its concurrency). Null when nothing runs: there is no pace to go by.
  function sweepEta(sweep) {
    if (sweep.status !== 'running') return null;
    const running = sweep.trials.filter((t) => trialEta(t) !== null);
    if (running.length === 0) return null;
    const left = running.reduce((sum, t) => sum + trialEta(t), 0);
    const whole = running.reduce((sum, t) => sum + t.progress.elapsed_seconds * t.progress.total_steps / t.progress.step, 0) / running.length;
    const suggested = sweep.trials.length;
    const unsuggested = Number.isFinite(sweep.space_size) && sweep.space_size > suggested ? sweep.space_size - suggested : 0;
    const waiting = sweep.trials.filter((t) => t.status === 'pending').length + unsuggested;
    return (left + waiting * whole) / running.length;
  }

  function progressCell(trial) {
    const p = trial.progress;
    if (trial.status === 'completed') return '<div class="bar"><span style="width:100%;background:var(--completed)"></span></div>';
    if (!p || !(p.total_steps > 0)) return '<span class="muted">–</span>';
    const fraction = Math.min(1, p.step / p.total_steps);
    return html`<div class="bar" title="step ${p.step} of ${p.total_steps}"><span style="width:${(fraction * 100).toFixed(1)}%"></span></div>
      <span class="muted">${(fraction * 100).toFixed(0)}% · epoch ${p.epoch}/${p.epochs}</span>`;
  }

  function sweepPage(id) {
    document.title = `${id} · ExperimentGrid`;
    const curves = new Map(); // trial id -> { status, curve }: a finished trial's curve is read once
    let layoutKey = null;
    let selected = null;

    function selectFromHash() {
      const match = location.hash.match(/^#trial=(.+)$/);
      selected = match ? decodeURIComponent(match[1]) : null;
    }
    selectFromHash();

    async function readCurves(sweep) {
      const stale = sweep.trials.filter((t) => t.status !== 'pending' && (curves.get(t.id)?.status !== t.status || t.status === 'running'));
      await Promise.all(stale.map(async (t) => {
        const curve = await getJson(`/api/sweeps/${encodeURIComponent(id)}/trials/${encodeURIComponent(t.id)}/curve`);
        curves.set(t.id, { status: t.status, curve });
      }));
    }

    function layout(sweep, fields) {
      const pareto = sweep.objectives.length > 1
        ? html`<section><h2>Pareto front <span class="muted">(configuration means: ${esc(sweep.objectives[0].metric)} against ${esc(sweep.objectives[1].metric)})</span></h2>
            <div id="chart-pareto" class="chart" data-chart="pareto"></div></section>`
        : '';
      const slices = fields.map((f, i) => html`<div id="chart-slice-${i}" class="chart small" data-chart="slice:${esc(f.name)}"></div>`).join('');
      app.innerHTML = html`
        <h1 id="title"></h1><div id="facts" class="facts"></div>
        <section><h2>Trials <span class="muted">(click one for its details)</span></h2><div id="trials" class="scroll"></div></section>
        <section id="details" hidden></section>
        <section><h2>Leaderboard <span class="muted">(mean ± 95% half-width over replicates)</span></h2><div id="leaderboard" class="scroll"></div></section>
        <div class="grid">
          <section><h2>Training loss by step</h2><div id="chart-loss" class="chart" data-chart="loss"></div></section>
          <section><h2>Objective by epoch <span class="muted">(${esc(sweep.objectives[0]?.metric ?? '')})</span></h2><div id="chart-epochs" class="chart" data-chart="epochs"></div></section>
          <section><h2>Parallel coordinates <span class="muted">(coloured by ${esc(sweep.objectives[0]?.metric ?? 'the objective')})</span></h2><div id="chart-parallel" class="chart" data-chart="parallel"></div></section>
          ${pareto}
        </div>
        <section><h2>Slice plots <span class="muted">(${esc(sweep.objectives[0]?.metric ?? 'objective')} against each hyperparameter)</span></h2><div class="slices">${slices}</div></section>
        <section><details><summary>Spec <span class="muted">${esc(sweep.source ?? '')}</span></summary><pre id="spec"></pre></details></section>`;
      document.getElementById('trials').addEventListener('click', (event) => {
        const row = event.target.closest('tr.trial');
        if (row) location.hash = `trial=${encodeURIComponent(row.dataset.trial)}`;
      });
    }

    let lastSweep = null, lastBoard = [];
    window.addEventListener('hashchange', () => { selectFromHash(); render(lastSweep, lastBoard); });

    function render(sweep, board) {
      if (!sweep) return;
      const fields = describeFields(sweep.trials);
      const primary = sweep.objectives[0];
      const eta = sweepEta(sweep);
      document.getElementById('title').innerHTML = html`${esc(sweep.name)} ${badge(sweep.status)}`;
      const counts = Object.entries(sweep.trial_counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${esc(k)}`).join(', ');
      document.getElementById('facts').innerHTML = html`
        <span><b>id</b> ${esc(sweep.id)}</span>
        <span><b>objectives</b> ${sweep.objectives.map((o) => `${esc(o.metric)} (${o.direction})`).join(', ')}</span>
        <span><b>trials</b> ${counts || 'none yet'}</span>
        ${sweep.space_size ? `<span><b>configurations</b> ${sweep.space_size}</span>` : ''}
        <span><b>submitted</b> ${esc(new Date(sweep.submitted_at).toLocaleString())}</span>
        ${sweep.end_reason ? `<span><b>ended</b> ${esc(sweep.end_reason)}</span>` : ''}
        ${eta !== null ? `<span id="sweep-eta"><b>ETA</b> ≈ ${duration(eta)}</span>` : ''}`;
      document.getElementById('spec').textContent = sweep.spec ?? '';

      const objectiveHeads = sweep.objectives.map((o) => `<th class="num">${esc(o.metric)}</th>`).join('');
      const trialRows = sweep.trials.map((t) => html`<tr class="trial${t.id === selected ? ' selected' : ''}" data-trial="${esc(t.id)}">
          <td>${esc(t.id)}</td><td>${badge(t.status)}</td>
          ${fields.map((f) => `<td>${esc(t.hyperparameters[f.name] ?? '')}</td>`).join('')}
          <td>${progressCell(t)}</td><td class="num eta">${t.status === 'running' ? duration(trialEta(t)) : ''}</td>
          ${sweep.objectives.map((o, i) => `<td class="num">${fixed(objectiveValue(sweep, t, i))}</td>`).join('')}
          <td class="num">${t.attempts}</td><td>${esc(t.silo ?? '')}</td></tr>`).join('');
      document.getElementById('trials').innerHTML = html`<table id="trial-table"><thead><tr><th>trial</th><th>status</th>
          ${fields.map((f) => `<th>${esc(f.name)}</th>`).join('')}<th>progress</th><th class="num">ETA</th>${objectiveHeads}
          <th class="num">attempts</th><th>silo</th></tr></thead><tbody>${trialRows}</tbody></table>`;

      renderLeaderboard(sweep, board);
      renderDetails(sweep, fields);
      drawLoss(sweep);
      drawEpochs(sweep);
      drawParallel(sweep, fields, primary);
      fields.forEach((f, i) => drawSlice(sweep, f, i, primary));
      if (sweep.objectives.length > 1) drawPareto(sweep, board);
    }

    function renderLeaderboard(sweep, board) {
      const rows = board.slice(0, LEADERBOARD_ROWS).map((row, rank) => {
        const cells = row.objectives.map((o) => {
          const half = o.ci95_low !== null && o.ci95_high !== null ? (o.ci95_high - o.ci95_low) / 2 : null;
          return `<td class="num">${fixed(o.mean)}${half !== null ? ` ± ${fixed(half)}` : ''}</td>`;
        }).join('');
        const front = row.pareto_front === undefined ? '' : `<td>${row.pareto_front ? '<span class="front">front</span>' : ''}</td>`;
        const hyperparameters = Object.entries(row.hyperparameters).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(' ');
        return html`<tr class="trial" data-trial="${esc(row.trial)}"><td class="num">${rank + 1}</td><td>${esc(row.trial)}</td>
          <td>${hyperparameters}</td><td class="num">${row.n}</td>${cells}${front}</tr>`;
      }).join('');
      const heads = sweep.objectives.map((o) => `<th class="num">${esc(o.metric)} (${o.direction === 'maximize' ? 'max' : 'min'})</th>`).join('');
      const frontHead = sweep.objectives.length > 1 ? '<th>Pareto</th>' : '';
      const element = document.getElementById('leaderboard');
      element.innerHTML = rows
        ? html`<table id="leaderboard-table"><thead><tr><th class="num">rank</th><th>best trial</th><th>hyperparameters</th><th class="num">n</th>${heads}${frontHead}</tr></thead><tbody>${rows}</tbody></table>`
        : '<p class="muted">No trial has completed yet.</p>';
      element.onclick = (event) => {
        const row = event.target.closest('tr.trial');
        if (row) location.hash = `trial=${encodeURIComponent(row.dataset.trial)}`;
      };
    }

    function renderDetails(sweep, fields) {
      const panel = document.getElementById('details');
      const trial = sweep.trials.find((t) => t.id === selected);
      if (!trial) { panel.hidden = true; return; }
      panel.hidden = false;
      const p = trial.progress;
      const facts = [
        ['status', badge(trial.status)],
        ...fields.map((f) => [esc(f.name), esc(trial.hyperparameters[f.name] ?? '')]),
        ['attempts', trial.attempts],
        ['silo', esc(trial.silo ?? '–')],
        ...(p ? [
          ['progress', `epoch ${p.epoch}/${p.epochs}, step ${p.step}/${p.total_steps}`],
          ['training loss', fixed(p.loss)], ['learning rate', p.learning_rate === null ? '–' : p.learning_rate.toExponential(3)],
          ['throughput', `${fixed(p.samples_per_second, 1)} samples/s, ${fixed(p.tokens_per_second, 0)} tokens/s`],
          ['elapsed', duration(p.elapsed_seconds)], ['ETA', duration(trialEta(trial))], ['micro-batch', p.micro_batch_size],
        ] : []),
        ...Object.entries(trial.metrics).map(([k, v]) => [esc(k), fixed(v)]),
        ['model', esc(trial.model ?? '–')],
        ['checkpoint', esc(trial.checkpoint ?? '–')],
      ];
      const hasCurve = curves.get(trial.id)?.curve.loss.length > 0;
      panel.innerHTML = html`<h2>Trial ${esc(trial.id)}</h2>
        <dl class="details">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
        ${trial.error ? `<h2>Error</h2><pre id="trial-error">${esc(trial.error)}</pre>` : ''}
        ${hasCurve ? '<div id="chart-trial" class="chart" data-chart="trial"></div>' : '<p class="muted">No learning curve yet.</p>'}`;
      charts.get('chart-trial')?.dispose();
      charts.delete('chart-trial');
      if (hasCurve) drawTrial(sweep, trial);
    }

    function drawTrial(sweep, trial) {
      const { curve } = curves.get(trial.id);
      const metrics = [...new Set(curve.epochs.flatMap((e) => Object.keys(e.metrics)))];
      draw('chart-trial', {
        tooltip: { trigger: 'axis' },
        legend: { type: 'scroll', top: 0 },
        grid: { left: 60, right: 60, top: 40, bottom: 40 },
        xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 25 },
        yAxis: [{ type: 'value', name: 'training loss', scale: true }, { type: 'value', name: 'eval', scale: true }],
        series: [
          { name: 'training loss', type: 'line', showSymbol: false, data: curve.loss.map((p) => [p.step, p.loss]) },
          ...metrics.map((m) => ({ name: m, type: 'line', yAxisIndex: 1, data: curve.epochs.map((e) => [e.step, e.metrics[m]]) })),
        ],
      });
    }

    function drawLoss(sweep) {
      const series = sweep.trials.filter((t) => curves.get(t.id)?.curve.loss.length > 0).map((t) => ({
        name: t.id, type: 'line', showSymbol: false, data: curves.get(t.id).curve.loss.map((p) => [p.step, p.loss]),
      }));
      draw('chart-loss', {
        tooltip: { trigger: 'axis' },
        legend: { type: 'scroll', top: 0 },
        grid: { left: 60, right: 20, top: 40, bottom: 40 },
        xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 25 },
        yAxis: { type: 'value', name: 'loss', scale: true },
        series,
        graphic: noData(series, 'No learning curve yet'),
      });
    }

    function drawEpochs(sweep) {
      const series = sweep.trials.filter((t) => curves.get(t.id)?.curve.epochs.length > 0).map((t) => ({
        name: t.id, type: 'line', data: curves.get(t.id).curve.epochs.map((e) => [e.epoch, e.objective]),
      }));
      draw('chart-epochs', {
        tooltip: { trigger: 'axis' },
        legend: { type: 'scroll', top: 0 },
        grid: { left: 60, right: 20, top: 40, bottom: 40 },
        xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 25, minInterval: 1 },
        yAxis: { type: 'value', name: sweep.objectives[0]?.metric, scale: true },
        series,
        graphic: noData(series, 'No epoch has ended yet'),
      });
    }

    // Colours run from worse to better whichever way the objective points.
    function objectiveColours(values, objective) {
      const finite = values.filter(Number.isFinite);
      const min = finite.length ? Math.min(...finite) : 0, max = finite.length ? Math.max(...finite) : 1;
      const colours = ['#d64545', '#f0b429', '#1f9d55'];
      return {
        type: 'continuous', min, max: max > min ? max : min + 1e-9, calculable: true, precision: 3, right: 0, top: 'middle',
        inRange: { color: objective?.direction === 'minimize' ? [...colours].reverse() : colours },
        text: [objective?.metric ?? 'objective', ''],
      };
    }

    // Final objectives only: a running trial's is its last epoch's, which would read as a result.
    const scored = (sweep) => sweep.trials.filter((t) => t.status === 'completed' && t.objective !== null);


    function axisFor(field, dimension) {
      return field.numeric
        ? { dim: dimension, name: field.name, type: field.log ? 'log' : 'value', scale: true }
        : { dim: dimension, name: field.name, type: 'category', data: field.categories };
    }

    function drawParallel(sweep, fields, primary) {
      const trials = scored(sweep);
      const axes = [
        ...fields.map((f, i) => axisFor(f, i)),
        ...sweep.objectives.map((o, i) => ({ dim: fields.length + i, name: o.metric, type: 'value', scale: true })),
      ];
      const data = trials.map((t) => ({
        name: t.id,
        value: [...fields.map((f) => fieldValue(f, t)), ...sweep.objectives.map((o, i) => objectiveValue(sweep, t, i))],
      }));
      draw('chart-parallel', {
        tooltip: { formatter: (p) => esc(p.name) },
        parallelAxis: axes,
        parallel: { left: 60, right: 110, top: 40, bottom: 30 },
        visualMap: { ...objectiveColours(trials.map((t) => t.objective), primary), dimension: fields.length },
        series: [{ type: 'parallel', lineStyle: { width: 2, opacity: 0.8 }, data }],
        graphic: noData(data, 'No completed trial yet'),
      });
    }

    function drawSlice(sweep, field, index, primary) {
      const trials = scored(sweep);
      draw(`chart-slice-${index}`, {
        title: { text: field.name, left: 'center', textStyle: { fontSize: 13 } },
        tooltip: { formatter: (p) => `${esc(p.data.name)}: ${esc(field.name)}=${esc(p.data.value[0])}, ${esc(primary.metric)}=${fixed(p.data.value[1])}` },
        grid: { left: 55, right: 20, top: 35, bottom: 35 },
        xAxis: field.numeric ? { type: field.log ? 'log' : 'value', scale: true } : { type: 'category', data: field.categories },
        yAxis: { type: 'value', name: primary.metric, scale: true },
        visualMap: { ...objectiveColours(trials.map((t) => t.objective), primary), dimension: 1, show: false },
        series: [{ type: 'scatter', symbolSize: 9, data: trials.map((t) => ({ name: t.id, value: [fieldValue(field, t), t.objective] })) }],
        graphic: noData(trials, 'No completed trial yet'),
      });
    }

    // The leaderboard's configurations by their mean of the first two objectives; the front is the leaderboard's own.
    function drawPareto(sweep, board) {
      const [x, y] = sweep.objectives;
      const point = (row) => ({ name: row.trial, value: [row.objectives[0].mean, row.objectives[1].mean] });
      const front = board.filter((row) => row.pareto_front).map(point).sort((a, b) => a.value[0] - b.value[0]);
      const rest = board.filter((row) => !row.pareto_front).map(point);
      draw('chart-pareto', {
        tooltip: { formatter: (p) => `${esc(p.name)}: ${esc(x.metric)}=${fixed(p.value[0])}, ${esc(y.metric)}=${fixed(p.value[1])}` },
        legend: { top: 0 },
        grid: { left: 60, right: 20, top: 40, bottom: 45 },
        xAxis: { type: 'value', name: `${x.metric} (${x.direction})`, nameLocation: 'middle', nameGap: 28, scale: true },
        yAxis: { type: 'value', name: `${y.metric} (${y.direction})`, scale: true },
        series: [
          { name: 'Pareto front', type: 'line', symbolSize: 11, data: front, itemStyle: { color: '#2f6fde' } },
          { name: 'dominated', type: 'scatter', symbolSize: 9, data: rest, itemStyle: { color: '#8a8f98' } },
        ],
        graphic: noData(board, 'No configuration has completed yet'),
      });
    }

    poll(async () => {
      const [sweep, board] = await Promise.all([
        getJson(`/api/sweeps/${encodeURIComponent(id)}`),
        getJson(`/api/leaderboard?sweep=${encodeURIComponent(id)}&top=${ALL_ROWS}`),
      ]);
      await readCurves(sweep);
      // The page's sections follow the hyperparameters and objectives; they are laid out again only when those change.
      const fields = describeFields(sweep.trials);
      const key = JSON.stringify([fields.map((f) => f.name), sweep.objectives.length]);
      if (key !== layoutKey) {
        charts.forEach((chart) => chart.dispose());
        charts.clear();
        layout(sweep, fields);
        layoutKey = key;
      }
      lastSweep = sweep;
      lastBoard = board;
      render(sweep, board);
      // A sweep that has ended changes no more once its trials have.
      return sweep.status === 'running' || sweep.trials.some((t) => !DONE.has(t.status));
    });
  }

  const route = location.pathname.match(/^\/sweeps\/([^/]+)\/?$/);
  if (route) sweepPage(decodeURIComponent(route[1])); else listPage();
})();
