// Kakehashi web page: language pickers from GET /v1/languages, translation by POST /v1/translate.
// Everything that comes from the server or the user is written with textContent, never innerHTML.
// URLs are relative to the page so that the app also works when served under a path prefix.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    form: $("translate-form"),
    source: $("source-lang"),
    target: $("target-lang"),
    swap: $("swap"),
    text: $("source-text"),
    translate: $("translate"),
    count: $("char-count"),
    result: $("result"),
    meta: $("result-meta"),
    copy: $("copy"),
    alternatives: $("alternatives"),
    alternativesEmpty: $("alternatives-empty"),
    detected: $("detected"),
    status: $("status"),
    annotationsStatus: $("annotations-status"),
    notesBlock: $("notes-block"),
    notesSource: $("notes-source"),
    notes: $("notes"),
    sourcesBlock: $("sources-block"),
    segmentSources: $("segment-sources"),
    settings: $("settings"),
    model: $("model"),
    beamSize: $("beam-size"),
    nBest: $("n-best"),
    maxLength: $("max-length"),
    apiKey: $("api-key"),
  };

  // Below this support score a sentence is flagged as weakly supported (possibly not grounded in the data).
  const WEAK_SUPPORT = 0.5;

  const API_KEY_STORAGE = "kakehashi-api-key";

  // An integer from a number field, kept within [low, high]; the field's default when empty or not a number.
  function fieldInt(input, low, high) {
    const value = Number.parseInt(input.value, 10);
    const fallback = Number.parseInt(input.defaultValue, 10);
    return Math.min(high, Math.max(low, Number.isFinite(value) ? value : fallback));
  }

  // The decoding options of the settings panel; alternatives cannot outnumber the beam.
  function decodingOptions() {
    const beam = fieldInt(el.beamSize, 1, 16);
    return {
      beam_size: beam,
      n_best: Math.min(fieldInt(el.nBest, 1, 16), beam),
      max_decoding_length: fieldInt(el.maxLength, 1, 4096),
    };
  }

  // Headers of every API call: JSON, and the API key when one is entered.
  function apiHeaders(extra = {}) {
    const headers = { Accept: "application/json", ...extra };
    const key = el.apiKey.value.trim();
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  // A 403 means the server needs a (valid) key: say where to enter it.
  function keyMessage(message, status) {
    if (status !== 403) return message;
    el.settings.open = true;
    return `${message} — enter an API key under “Model, options and API key”.`;
  }

  /** @type {{code: string, name: string, targets: string[]}[]} */
  let languages = [];
  const names = new Map();
  let lastDetected = null; // language code detected for the last auto translation
  let inFlight = null; // AbortController of the running request
  let ready = false;

  const nameOf = (code) => names.get(code) || code;
  const byName = (a, b) => nameOf(a).localeCompare(nameOf(b));

  function setStatus(message, kind = "info", httpStatus = null) {
    // Errors are alerts (announced at once); progress and success are polite status messages.
    el.status.setAttribute("role", kind === "error" ? "alert" : "status");
    el.status.dataset.kind = kind;
    if (httpStatus === null) delete el.status.dataset.httpStatus;
    else el.status.dataset.httpStatus = String(httpStatus);
    el.status.textContent = message;
  }

  function option(code, label) {
    const o = document.createElement("option");
    o.value = code;
    o.textContent = label;
    return o;
  }

  function targetsFor(source) {
    if (source === "auto") {
      const all = new Set();
      for (const row of languages) for (const t of row.targets) all.add(t);
      return [...all];
    }
    const row = languages.find((r) => r.code === source);
    return row ? [...row.targets] : [];
  }

  function fillTargets(preferred) {
    const wanted = preferred || el.target.value;
    const source = el.source.value;
    const codes = [...new Set(targetsFor(source))].sort(byName);
    el.target.replaceChildren(...codes.map((c) => option(c, nameOf(c))));
    let choice = null;
    if (codes.includes(wanted)) choice = wanted;
    else if (codes.includes("en") && source !== "en") choice = "en";
    else choice = codes.find((c) => c !== source) || codes[0] || null;
    if (choice !== null) el.target.value = choice;
    el.target.disabled = codes.length === 0;
    updateControls();
  }

  function swapPlan() {
    const newSource = el.target.value;
    if (!newSource || !languages.some((r) => r.code === newSource)) return null;
    const oldSource = el.source.value === "auto" ? lastDetected : el.source.value;
    return { source: newSource, target: oldSource };
  }

  function updateControls() {
    const busy = inFlight !== null;
    el.translate.disabled = !ready || busy || !el.target.value;
    el.swap.disabled = !ready || busy || swapPlan() === null;
    el.source.disabled = !ready;
    el.result.setAttribute("aria-busy", String(busy));
  }

  function updateCount() {
    const n = [...el.text.value].length; // code points, as the server counts them (not UTF-16 units)
    el.count.textContent = `${n.toLocaleString()} character${n === 1 ? "" : "s"}`;
  }

  function updateTextLang() {
    if (el.source.value === "auto") el.text.removeAttribute("lang");
    else el.text.lang = el.source.value;
  }

  function hideDetected() {
    el.detected.hidden = true;
    el.detected.textContent = "";
  }

  const str = (value) => (typeof value === "string" ? value : "");

  // Only web links become links: a URL from the data must never run script (javascript:, data:).
  function link(url, label) {
    const value = str(url);
    if (!/^https?:\/\//i.test(value)) {
      const span = document.createElement("span");
      span.textContent = label;
      return span;
    }
    const a = document.createElement("a");
    a.href = value;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.textContent = label;
    return a;
  }

  function clearAnnotations() {
    el.annotationsStatus.textContent = "Sources and cultural notes appear here after a translation.";
    el.notesSource.replaceChildren();
    el.notes.replaceChildren();
    el.notesBlock.hidden = true;
    el.segmentSources.replaceChildren();
    el.sourcesBlock.hidden = true;
  }

  // The source text with each note's term highlighted (offsets index the source text).
  function highlightedSource(source, notes) {
    const parts = [];
    let at = 0;
    notes.forEach((note, i) => {
      if (!Number.isInteger(note.start) || !Number.isInteger(note.end) || note.start < at) return;
      if (note.start > at) parts.push(document.createTextNode(source.slice(at, note.start)));
      const mark = document.createElement("mark");
      mark.className = "note-term";
      mark.textContent = source.slice(note.start, note.end);
      mark.title = [str(note.gloss), str(note.explanation)].filter(Boolean).join(" — ");
      mark.dataset.note = String(i);
      parts.push(mark);
      at = note.end;
    });
    if (at < source.length) parts.push(document.createTextNode(source.slice(at)));
    return parts;
  }

  function showNotes(t, source) {
    const notes = Array.isArray(t.notes) ? t.notes : [];
    el.notesBlock.hidden = notes.length === 0;
    el.notesSource.lang = str(t.source);
    el.notesSource.replaceChildren(...highlightedSource(source, notes));
    el.notes.replaceChildren(
      ...notes.flatMap((note) => {
        const dt = document.createElement("dt");
        const term = document.createElement("span");
        term.className = "note-term";
        term.lang = str(t.source);
        term.textContent = str(note.term);
        dt.append(term);
        const reading = [str(note.reading), str(note.romaji)].filter(Boolean).join(", ");
        if (reading) dt.append(` (${reading})`);
        const dd = document.createElement("dd");
        const gloss = document.createElement("strong");
        gloss.className = "note-gloss";
        gloss.textContent = str(note.gloss);
        dd.append(gloss);
        if (str(note.explanation)) {
          const explanation = document.createElement("span");
          explanation.className = "note-explanation";
          explanation.textContent = ` — ${str(note.explanation)}`;
          dd.append(explanation);
        }
        const cite = document.createElement("span");
        cite.className = "note-source muted small";
        cite.append(" ", link(note.url, str(note.source)), ` (${str(note.license)})`);
        dd.append(cite);
        return [dt, dd];
      }),
    );
  }

  // "seen 7 times in training (steps 196 … 6758)"; where there are no steps, the server's words for why.
  function seenInTraining(ref) {
    if (Array.isArray(ref.steps) && ref.steps.length > 0) {
      const first = ref.steps[0];
      const last = ref.steps[ref.steps.length - 1];
      const n = typeof ref.times_seen === "number" ? ref.times_seen : ref.steps.length;
      const span = first === last ? `step ${first}` : `steps ${first} … ${last}`;
      return `seen ${n} ${n === 1 ? "time" : "times"} in training (${span})`;
    }
    return typeof ref.steps === "string" ? `in the training sample; steps ${ref.steps}` : "in the training sample";
  }

  function showSources(t) {
    const segments = Array.isArray(t.segments) ? t.segments : [];
    const annotated = segments.filter((s) => Array.isArray(s.references));
    el.sourcesBlock.hidden = annotated.length === 0;
    el.segmentSources.replaceChildren(
      ...annotated.map((segment) => {
        const li = document.createElement("li");
        li.className = "segment-source";
        const sentence = document.createElement("p");
        sentence.className = "segment-text";
        sentence.lang = str(t.target);
        sentence.textContent = str(segment.text);
        const support = typeof segment.support === "number" ? segment.support : 0;
        const badge = document.createElement("span");
        badge.className = "support";
        const weak = support < WEAK_SUPPORT;
        if (weak) li.classList.add("weak");
        badge.textContent = `support ${support.toFixed(2)}${weak ? " · weakly supported" : ""}`;
        sentence.append(" ", badge);
        li.append(sentence);
        const list = document.createElement("ul");
        list.className = "reference-list";
        segment.references.forEach((ref) => {
          const item = document.createElement("li");
          item.className = "reference";
          const pair = document.createElement("span");
          pair.className = "reference-pair";
          pair.textContent = `${str(ref.source)} → ${str(ref.target)}`;
          const cite = document.createElement("span");
          cite.className = "reference-cite muted small";
          const training = ref.in_training ? seenInTraining(ref) : "not in the training sample";
          cite.append(link(ref.url, `${str(ref.corpus)} ${str(ref.id)}`), ` · ${str(ref.license)} · ${training}`);
          item.append(pair, " ", cite);
          list.append(item);
        });
        if (segment.references.length === 0) {
          const none = document.createElement("li");
          none.className = "muted small";
          none.textContent = "No supporting pair found in the training corpora.";
          list.append(none);
        }
        li.append(list);
        return li;
      }),
    );
  }

  function showAnnotations(t, source) {
    const status = t.annotations && typeof t.annotations === "object" ? t.annotations : {};
    const problems = Object.entries(status)
      .filter(([, value]) => value !== "ok")
      .map(([kind, value]) => `${kind === "references" ? "Sources" : "Cultural notes"}: ${str(value)}`);
    showNotes(t, source);
    showSources(t);
    const found = !el.notesBlock.hidden || !el.sourcesBlock.hidden;
    el.annotationsStatus.textContent = problems.length
      ? problems.join(" · ")
      : found
        ? ""
        : "No cultural notes or sources for this text.";
  }

  function clearResult() {
    clearAnnotations();
    el.result.textContent = "";
    el.result.removeAttribute("lang");
    el.meta.textContent = "";
    el.copy.hidden = true;
    el.alternatives.replaceChildren();
    el.alternatives.hidden = true;
    el.alternativesEmpty.hidden = false;
    el.alternativesEmpty.textContent = "Alternatives appear here after a translation.";
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  function errorMessage(body, response) {
    const message = body && body.error && typeof body.error.message === "string" ? body.error.message : "";
    return message || `The server answered ${response.status} ${response.statusText}`.trim();
  }

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  const formatScore = (score) => (typeof score === "number" && Number.isFinite(score) ? score.toFixed(2) : "");

  function showTranslation(t, seconds, source) {
    showAnnotations(t, source);
    el.result.textContent = typeof t.text === "string" ? t.text : "";
    if (t.target) el.result.lang = t.target;
    el.copy.hidden = !(navigator.clipboard && el.result.textContent);

    const meta = [];
    if (Array.isArray(t.models) && t.models.length) meta.push(`Model: ${t.models.join(", ")}`);
    const score = formatScore(t.score);
    if (score) meta.push(`score ${score}`);
    if (t.cached) meta.push("cached");
    el.meta.textContent = meta.join(" · ");

    const alternatives = Array.isArray(t.alternatives) ? t.alternatives : [];
    el.alternatives.replaceChildren(
      ...alternatives.map((alt) => {
        const li = document.createElement("li");
        if (t.target) li.lang = t.target;
        const text = document.createElement("span");
        text.className = "alt-text";
        text.textContent = typeof alt.text === "string" ? alt.text : "";
        li.append(text);
        const altScore = formatScore(alt.score);
        if (altScore) {
          const s = document.createElement("span");
          s.className = "alt-score muted";
          s.textContent = `score ${altScore}`;
          li.append(" ", s);
        }
        return li;
      }),
    );
    el.alternatives.hidden = alternatives.length === 0;
    el.alternativesEmpty.hidden = alternatives.length !== 0;
    el.alternativesEmpty.textContent = "No alternatives for this text.";

    const detected = t.detected_source;
    if (el.source.value === "auto" && detected && detected.language) {
      lastDetected = detected.language;
      const confidence =
        typeof detected.confidence === "number" ? ` (${Math.round(detected.confidence * 100)}% confidence)` : "";
      el.detected.textContent = `Detected language: ${nameOf(detected.language)}${confidence}`;
      el.detected.hidden = false;
      if (detected.language === (t.target || el.target.value)) {
        offerOtherTarget(detected.language);
        return;
      }
    } else {
      lastDetected = el.source.value === "auto" ? null : lastDetected;
      hideDetected();
    }

    const from = nameOf(t.source || (detected && detected.language) || el.source.value);
    const to = nameOf(t.target || el.target.value);
    setStatus(`Translated ${from} → ${to} in ${seconds.toFixed(1)} s.`, "ok");
  }

  async function translate() {
    if (!ready) return;
    const text = el.text.value;
    if (!text.trim()) {
      setStatus("Type or paste some text to translate.", "info");
      el.text.focus();
      return;
    }
    const target = el.target.value;
    if (!target) {
      setStatus("Choose a target language.", "info");
      return;
    }
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    updateControls();
    setStatus("Translating…", "busy");
    const started = performance.now();
    try {
      const request = {
        texts: [text],
        source: el.source.value,
        target,
        options: decodingOptions(),
        references: true,
        notes: true,
      };
      if (el.model.value) request.model = el.model.value;
      const response = await fetch("v1/translate", {
        method: "POST",
        headers: apiHeaders({ "Content-Type": "application/json" }),
        body: JSON.stringify(request),
        signal: controller.signal,
      });
      const body = await readJson(response);
      if (!response.ok) throw new ApiError(keyMessage(errorMessage(body, response), response.status), response.status);
      const first = body && Array.isArray(body.translations) ? body.translations[0] : null;
      if (!first) throw new ApiError("The server sent no translation.", response.status);
      if (inFlight !== controller) return;
      showTranslation(first, (performance.now() - started) / 1000, text);
    } catch (err) {
      if (controller.signal.aborted || inFlight !== controller) return;
      clearResult();
      hideDetected();
      if (err instanceof ApiError) setStatus(err.message, "error", err.status);
      else setStatus(`Could not reach the server: ${err.message}`, "error");
    } finally {
      if (inFlight === controller) {
        inFlight = null;
        updateControls();
      }
    }
  }

  function swap() {
    const plan = swapPlan();
    if (!plan) return;
    const translated = el.result.textContent;
    el.source.value = plan.source;
    fillTargets(plan.target);
    lastDetected = null;
    hideDetected();
    updateTextLang();
    if (translated) {
      el.text.value = translated;
      updateCount();
      clearResult();
    }
    setStatus(`Now translating ${nameOf(el.source.value)} → ${nameOf(el.target.value)}.`, "info");
    el.text.focus();
  }

  async function loadLanguages() {
    setStatus("Loading languages…", "busy");
    try {
      const response = await fetch("v1/languages", { headers: apiHeaders() });
      const body = await readJson(response);
      if (!response.ok) throw new ApiError(keyMessage(errorMessage(body, response), response.status), response.status);
      languages = body && Array.isArray(body.languages) ? body.languages : [];
    } catch (err) {
      setStatus(`Could not load the languages: ${err.message}`, "error", err.status ?? null);
      return;
    }
    languages = languages
      .filter((r) => r && typeof r.code === "string")
      .map((r) => ({
        code: r.code,
        name: typeof r.name === "string" && r.name ? r.name : r.code,
        targets: Array.isArray(r.targets) ? r.targets.filter((t) => typeof t === "string") : [],
      }));
    for (const row of languages) names.set(row.code, row.name);
    const sources = languages.map((r) => r.code).sort(byName);
    el.source.replaceChildren(option("auto", "Auto-detect"), ...sources.map((c) => option(c, nameOf(c))));
    el.source.value = "auto";
    ready = true;
    fillTargets();
    if (languages.length === 0) setStatus("No translation models are loaded on this server.", "error");
    else setStatus("", "info");
    loadModels();
  }

  async function loadModels() {
    let models = [];
    try {
      const response = await fetch("v1/models", { headers: apiHeaders() });
      const body = await readJson(response);
      if (response.ok && body && Array.isArray(body.models)) models = body.models;
    } catch {
      models = []; // the picker keeps "Automatic": translation still works
    }
    const chosen = el.model.value;
    const rows = models
      .filter((m) => m && typeof m.name === "string")
      .map((m) => {
        const pairs = Array.isArray(m.pairs) ? m.pairs.filter((p) => typeof p === "string").join(", ") : "";
        return option(m.name, pairs ? `${m.name} (${pairs})` : m.name);
      });
    el.model.replaceChildren(option("", "Automatic (by language pair)"), ...rows);
    if ([...el.model.options].some((o) => o.value === chosen)) el.model.value = chosen;
  }

  // Auto-detection found the target language itself: the "translation" is the text unchanged. Offer to translate
  // it into another language instead.
  function offerOtherTarget(detected) {
    setStatus(`The text is already in ${nameOf(detected)}, the target language, so it was left as it is.`, "ok");
    const others = targetsFor(detected).filter((code) => code !== detected).sort(byName);
    if (others.length === 0) return;
    const preferred = others.includes("en") ? "en" : others[0];
    const button = document.createElement("button");
    button.type = "button";
    button.id = "same-language-swap";
    button.className = "small-button";
    button.textContent = `Translate ${nameOf(detected)} → ${nameOf(preferred)}`;
    button.addEventListener("click", () => {
      el.source.value = detected;
      updateTextLang();
      fillTargets(preferred);
      translate();
    });
    el.detected.append(" ", button);
  }

  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    translate();
  });
  el.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      translate();
    }
  });
  el.text.addEventListener("input", updateCount);
  el.source.addEventListener("change", () => {
    lastDetected = null;
    hideDetected();
    updateTextLang();
    fillTargets();
  });
  el.target.addEventListener("change", updateControls);
  el.swap.addEventListener("click", swap);
  try {
    el.apiKey.value = localStorage.getItem(API_KEY_STORAGE) || "";
  } catch {
    el.apiKey.value = ""; // storage disabled: the key lasts as long as the page
  }
  el.apiKey.addEventListener("change", () => {
    const key = el.apiKey.value.trim();
    try {
      if (key) localStorage.setItem(API_KEY_STORAGE, key);
      else localStorage.removeItem(API_KEY_STORAGE);
    } catch {
      // storage disabled: nothing to remember it in
    }
    // With a (new) key the server may now answer what it refused.
    if (!ready) loadLanguages();
    else loadModels();
  });
  el.copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(el.result.textContent);
      setStatus("Translation copied.", "ok");
    } catch {
      setStatus("Could not copy to the clipboard.", "error");
    }
  });

  clearResult();
  updateCount();
  updateControls();
  loadLanguages();
})();

// Documents tab: drop a file, pick the target, watch the job's progress (GET /v1/documents/{id}), download the
// result. The job runs on a worker; the page only uploads and polls.
(() => {
  const $ = (id) => document.getElementById(id);
  const tabs = [$("tab-text"), $("tab-documents")];
  const panels = [$("panel-text"), $("panel-documents")];
  if (tabs.some((t) => !t) || panels.some((p) => !p)) return;
  const el = {
    zone: $("drop-zone"),
    file: $("document-file"),
    name: $("document-name"),
    target: $("document-target"),
    start: $("document-start"),
    progress: $("document-progress"),
    status: $("document-status"),
    download: $("document-download"),
  };
  const POLL_MS = 500;
  let chosen = null;
  let downloadUrl = null;
  let running = false;

  function select(index) {
    tabs.forEach((tab, i) => {
      tab.setAttribute("aria-selected", String(i === index));
      tab.tabIndex = i === index ? 0 : -1;
      panels[i].hidden = i !== index;
    });
  }
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(i));
    tab.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
      const next = (i + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length;
      select(next);
      tabs[next].focus();
    });
  });

  function setStatus(message, kind = "info") {
    el.status.setAttribute("role", kind === "error" ? "alert" : "status");
    el.status.dataset.kind = kind;
    el.status.textContent = message;
  }

  function updateControls() {
    el.start.disabled = running || !chosen || !el.target.value;
  }

  function choose(file) {
    if (!file) return;
    chosen = file;
    el.name.textContent = `${file.name} (${file.size.toLocaleString()} bytes)`;
    el.download.hidden = true;
    setStatus("");
    updateControls();
  }

  el.file.addEventListener("change", () => choose(el.file.files[0]));
  el.zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    el.zone.classList.add("dragging");
  });
  el.zone.addEventListener("dragleave", () => el.zone.classList.remove("dragging"));
  el.zone.addEventListener("drop", (event) => {
    event.preventDefault();
    el.zone.classList.remove("dragging");
    choose(event.dataTransfer.files[0]);
  });
  el.target.addEventListener("change", updateControls);

  async function errorMessage(response) {
    try {
      const body = await response.json();
      return (body.error && body.error.message) || `HTTP ${response.status}`;
    } catch {
      return `HTTP ${response.status}`;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // The API key entered in the text tab's settings (kept in this browser), for servers that require one.
  function keyHeaders() {
    let key = "";
    try {
      key = localStorage.getItem("kakehashi-api-key") || "";
    } catch {
      key = "";
    }
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  async function translateDocument() {
    running = true;
    updateControls();
    el.download.hidden = true;
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    el.progress.hidden = false;
    el.progress.removeAttribute("value");
    setStatus(`Uploading ${chosen.name}…`);
    try {
      const form = new FormData();
      form.append("file", chosen, chosen.name);
      form.append("target", el.target.value);
      form.append("source", "auto");
      const created = await fetch("v1/documents", { method: "POST", body: form, headers: keyHeaders() });
      if (!created.ok) throw new Error(await errorMessage(created));
      const job = await created.json();
      for (;;) {
        const polled = await fetch(`v1/documents/${encodeURIComponent(job.id)}`, { headers: keyHeaders() });
        if (!polled.ok) throw new Error(await errorMessage(polled));
        const status = await polled.json();
        const { done, total } = status.progress;
        if (total > 0) {
          el.progress.max = total;
          el.progress.value = done;
        }
        if (status.status === "error") throw new Error(`The translation failed: ${status.error}`);
        if (status.status === "done") break;
        setStatus(status.status === "queued" ? "Queued…" : `Translating… ${done} of ${total} segments`);
        await sleep(POLL_MS);
      }
      const result = await fetch(`v1/documents/${encodeURIComponent(job.id)}/result`, { headers: keyHeaders() });
      if (!result.ok) throw new Error(await errorMessage(result));
      downloadUrl = URL.createObjectURL(await result.blob());
      el.download.href = downloadUrl;
      const dot = job.filename.lastIndexOf(".");
      el.download.download =
        dot > 0 ? `${job.filename.slice(0, dot)}.${el.target.value}${job.filename.slice(dot)}` : job.filename;
      el.download.textContent = `Download ${el.download.download}`;
      el.download.hidden = false;
      setStatus("Done.", "ok");
    } catch (error) {
      setStatus(error.message, "error");
    } finally {
      el.progress.hidden = true;
      running = false;
      updateControls();
    }
  }
  el.start.addEventListener("click", () => {
    if (chosen && el.target.value && !running) translateDocument();
  });

  fetch("v1/languages", { headers: keyHeaders() })
    .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
    .then((body) => {
      const targets = new Set();
      const names = new Map();
      for (const row of body.languages || []) {
        if (typeof row.code === "string") names.set(row.code, row.name || row.code);
        for (const t of row.targets || []) targets.add(t);
      }
      const label = (code) => names.get(code) || code;
      const codes = [...targets].sort((a, b) => label(a).localeCompare(label(b)));
      el.target.replaceChildren(
        ...codes.map((code) => {
          const o = document.createElement("option");
          o.value = code;
          o.textContent = label(code);
          return o;
        }),
      );
      if (codes.includes("en")) el.target.value = "en";
      el.target.disabled = codes.length === 0;
      updateControls();
    })
    .catch((error) => setStatus(`Could not load the languages: ${error.message}`, "error"));
})();
