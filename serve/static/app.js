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
  };

  // Below this support score a sentence is flagged as weakly supported (possibly not grounded in the data).
  const WEAK_SUPPORT = 0.5;

  const OPTIONS = { beam_size: 4, n_best: 3 };

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
          const training = ref.in_training ? "in the training sample" : "not in the training sample";
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
      const response = await fetch("v1/translate", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({
          texts: [text],
          source: el.source.value,
          target,
          options: OPTIONS,
          references: true,
          notes: true,
        }),
        signal: controller.signal,
      });
      const body = await readJson(response);
      if (!response.ok) throw new ApiError(errorMessage(body, response), response.status);
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
      const response = await fetch("v1/languages", { headers: { Accept: "application/json" } });
      const body = await readJson(response);
      if (!response.ok) throw new ApiError(errorMessage(body, response), response.status);
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
