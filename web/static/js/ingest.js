// The ingest page: pick or drop files and folders (their paths kept), open a transfer, upload
// every file through our tus server in 32 MiB chunks (resumable: a dropped connection resumes
// from the server's offset; after a reload, choose the same folder again), complete the
// transfer (one ingest job) and follow the job until it links to the new package or lists
// the problems per file.
//
// Uppy core + Tus + StatusBar + DropTarget, with our own compact file list instead of the
// Dashboard (which freezes with ~10,000 files: transloadit/uppy#4389). Chosen and dropped files
// are added in slices, each in its own task (addInSlices), so a 5,000-file folder never
// freezes the page (bench/web_folder.py). Not GoldenRetriever: it
// keeps only files under 5 MiB, and the "ghost" files it restored after a reload made Uppy
// skip the re-chosen large files (found in Chromium); resuming rests on the server's list of
// unfinished transfers and on tus-js-client's fingerprints in localStorage instead.
import {
  DropTarget,
  StatusBar,
  Tus,
  Uppy,
} from "../vendor/uppy/uppy.min.mjs";

const form = document.getElementById("upload-form");
const strings = JSON.parse(form.dataset.strings);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const message = document.getElementById("upload-message");
const bar = document.getElementById("upload-bar");
const result = document.getElementById("upload-result");
const picked = document.getElementById("picked");
const pickedList = document.getElementById("picked-list");
const collection = document.getElementById("collection");
const endpointBase = form.dataset.endpoint;
const uploadButton = document.getElementById("upload-button");
const SHOWN = 12; // file names listed; the rest is counted

document.getElementById("upload-needs-js").hidden = true;
form.hidden = false;

function format(text, values) {
  return text.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
}

// strings.picked and strings.skipped: [singular, plural] (ngettext on the server)
function plural(forms, count) {
  const lang = (document.documentElement.lang || "en").toLowerCase();
  const one = lang.startsWith("fr") ? count <= 1 : count === 1;
  return one ? forms[0] : forms[1];
}

function say(text) {
  message.textContent = text;
}

function size(bytes) {
  // binary units, like the catalogue's size filter (KiB, MiB, ...); a no-break space
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 ? 0 : 1;
  return `${value.toLocaleString(document.documentElement.lang, { maximumFractionDigits: digits })}\u00a0${units[unit]}`;
}

function uppyLocale() {
  const lang = (document.documentElement.lang || "en").toLowerCase();
  const locales = (globalThis.Uppy && globalThis.Uppy.locales) || {};
  if (lang.startsWith("nl")) return locales.nl_NL;
  if (lang.startsWith("fr")) return locales.fr_FR;
  return undefined;
}

// what the transfer being uploaded is, and (when resuming) the files that already arrived
let current = null;
let arrived = new Set();
let skipped = 0;
// one random id per form submission, sent when the transfer is opened: the server opens one
// transfer per id, so a double click (or a re-sent request) never opens a second one
let requestId = null;
// true from the first click of "Upload and ingest" until that submission ends
let busy = false;

function newRequestId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function cleanPath(file) {
  const raw = file.meta.relativePath || file.data.webkitRelativePath || file.name;
  return String(raw).replace(/^\/+/, "");
}

const uppy = new Uppy({
  autoProceed: false,
  allowMultipleUploadBatches: true,
  locale: uppyLocale(),
  restrictions: { maxFileSize: Number(form.dataset.maxSize) },
  onBeforeFileAdded(file) {
    file.meta.relativePath = cleanPath(file);
    if (arrived.has(`${file.meta.relativePath}\u0000${file.data.size}`)) {
      skipped += 1;
      return false;
    }
    return file;
  },
});

uppy.use(Tus, {
  endpoint: endpointBase,
  chunkSize: Number(form.dataset.chunkSize),
  limit: 5,
  retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000],
  headers: { "X-CSRFToken": csrf },
  allowedMetaFields: ["relativePath", "transfer_id", "name", "type", "role"],
  removeFingerprintOnSuccess: true,
});
uppy.use(StatusBar, {
  target: "#status-bar",
  hideUploadButton: true,
  hideAfterFinish: false,
  showProgressDetails: true,
});
uppy.use(DropTarget, { target: "#drop-zone" });

function payloadFiles() {
  return uppy.getFiles().filter((f) => f.meta.role !== "metadata");
}

// while a folder is being added: the count grows, the name checks wait for the last slice
let addingFiles = false;

function showPicked() {
  const files = payloadFiles();
  if (!addingFiles) showNameWarnings(files);
  const total = files.reduce((sum, f) => sum + (f.size || 0), 0);
  picked.textContent = files.length
    ? format(plural(strings.picked, files.length), {
        count: files.length.toLocaleString(document.documentElement.lang),
        size: size(total),
      })
    : "";
  if (skipped) {
    picked.textContent += ` — ${format(plural(strings.skipped, skipped), { count: skipped })}`;
  }
  pickedList.replaceChildren(
    ...files.slice(0, SHOWN).map((f) => {
      const li = document.createElement("li");
      li.textContent = f.meta.relativePath;
      return li;
    }),
  );
  if (files.length > SHOWN) {
    const li = document.createElement("li");
    li.textContent = format(strings.more, {
      count: (files.length - SHOWN).toLocaleString(document.documentElement.lang),
    });
    pickedList.append(li);
  }
}

// files the server refused for good (a name it does not accept, a file too large): file id ->
// its path and the server's reason (the problem+json detail); retrying them cannot succeed
const refused = new Map();
uppy.on("upload-error", (file, error) => {
  const response = error && error.originalResponse;
  const status = response ? response.getStatus() : 0;
  if (!file || (status !== 400 && status !== 413)) return;
  let detail = "";
  try {
    const body = JSON.parse(response.getBody());
    detail = body.detail || body.title || "";
  } catch {
    detail = "";
  }
  refused.set(file.id, { path: file.meta.relativePath, detail: detail || `HTTP ${status}` });
});

// the refused files are left out (no Retry that cannot succeed) and listed with the reason
function leaveOutRefused(failed) {
  const left = failed.filter((f) => refused.has(f.id)).map((f) => refused.get(f.id));
  if (!left.length) return false;
  for (const f of failed) if (refused.has(f.id)) uppy.removeFile(f.id);
  // the status bar then offers no "Retry" of what can only be refused again
  if (failed.every((f) => refused.has(f.id))) uppy.setState({ error: null });
  const list = document.createElement("ul");
  for (const r of left) {
    const li = document.createElement("li");
    li.textContent = format(strings.refusedFile, { path: r.path, reason: r.detail });
    list.append(li);
  }
  const help = document.createElement("p");
  help.textContent = strings.refusedHelp;
  result.replaceChildren(list, help);
  say(strings.refused);
  return true;
}

// names preserve ingest warns about (preserve/bagit/paths.py): kept, but said before uploading
const SYSTEM_FILES = new Set([".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r", ".localized"]);
const WINDOWS_RESERVED = new Set(["CON", "PRN", "AUX", "NUL"]);
for (const dev of ["COM", "LPT"]) for (const n of "123456789¹²³") WINDOWS_RESERVED.add(`${dev}${n}`);
const WINDOWS_FORBIDDEN = /[<>:"|?*\x00-\x1f]/;

function nameProblem(path) {
  const segments = path.split("/");
  const file = segments[segments.length - 1];
  if (SYSTEM_FILES.has(file.toLowerCase()) || file.startsWith("._")) return strings.systemFile;
  for (const name of segments) {
    if (WINDOWS_RESERVED.has(name.split(".", 1)[0].trim().toUpperCase())) return strings.reservedName;
    if (WINDOWS_FORBIDDEN.test(name) || name.endsWith(".") || name.endsWith(" ")) return strings.windowsChars;
  }
  return null;
}

function showNameWarnings(files) {
  const box = document.getElementById("name-warnings");
  const found = [];
  for (const f of files) {
    const problem = nameProblem(f.meta.relativePath);
    if (problem) found.push(`${f.meta.relativePath}: ${problem}`);
  }
  if (!found.length) {
    box.replaceChildren();
    return;
  }
  const intro = document.createElement("p");
  intro.textContent = strings.namesWarning;
  const list = document.createElement("ul");
  for (const text of found.slice(0, SHOWN)) {
    const li = document.createElement("li");
    li.textContent = text;
    list.append(li);
  }
  if (found.length > SHOWN) {
    const li = document.createElement("li");
    li.textContent = format(strings.more, { count: found.length - SHOWN });
    list.append(li);
  }
  box.replaceChildren(intro, list);
}

uppy.on("files-added", showPicked);
uppy.on("file-removed", showPicked);
uppy.on("progress", (percent) => {
  bar.hidden = false;
  bar.value = percent;
});

// Uppy's addFiles copies its whole list of files once per file it adds (quadratic: one call
// with 5,000 files was a 5 s task, the page frozen meanwhile). So files are added in slices,
// each in its own task, the slice sized to take about SLICE_MS; the page paints and answers
// between them. Slices of later choices wait for the earlier ones; "Clear the list" stops them.
const SLICE_MS = 50;
let adding = Promise.resolve();
let addingRound = 0; // a new round (Clear the list) drops the slices not yet added

function nextTask() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function addSlices(descriptors, round) {
  let size = 100;
  for (let done = 0; done < descriptors.length && round === addingRound; ) {
    const started = performance.now();
    const slice = descriptors.slice(done, done + size);
    done += slice.length;
    addingFiles = done < descriptors.length;
    try {
      uppy.addFiles(slice);
    } catch (error) {
      say(`${strings.error} ${error.message}`);
      break;
    }
    const took = performance.now() - started;
    // each file costs more as the list grows: the next slice at most twice this one
    size = Math.max(10, Math.min(2 * size, 1000, Math.round((size * SLICE_MS) / Math.max(took, 1))));
    if (done < descriptors.length) await nextTask();
  }
  addingFiles = false;
  showPicked();
}

function addInSlices(descriptors) {
  const round = addingRound;
  adding = adding
    .then(() => addSlices(descriptors, round))
    .catch((error) => say(`${strings.error} ${error.message}`));
  return adding;
}

function addPicked(input) {
  const descriptors = Array.from(input.files, (file) => ({
    source: "picker",
    name: file.name,
    type: file.type,
    data: file,
    meta: { relativePath: file.webkitRelativePath || file.name },
  }));
  input.value = "";
  addInSlices(descriptors);
}

// dropped files and folders go through the same slices (DropTarget calls its own addFiles)
uppy.getPlugin("DropTarget").addFiles = (files) =>
  addInSlices(
    files.map((file) => ({
      source: "DropTarget",
      name: file.name,
      type: file.type,
      data: file,
      meta: { relativePath: file.relativePath || null },
    })),
  );

document.getElementById("pick-folder").addEventListener("change", (e) => addPicked(e.target));
document.getElementById("pick-files").addEventListener("change", (e) => addPicked(e.target));
document.getElementById("clear-button").addEventListener("click", () => {
  addingRound += 1;
  uppy.cancelAll();
  skipped = 0;
  if (!current) requestId = null;
  showPicked();
  say("");
});

const metadataInput = document.getElementById("metadata-csv");
metadataInput.addEventListener("change", () => {
  for (const f of uppy.getFiles()) if (f.meta.role === "metadata") uppy.removeFile(f.id);
  const file = metadataInput.files[0];
  if (!file) return;
  uppy.addFile({
    source: "metadata",
    name: file.name,
    type: file.type || "text/csv",
    data: file,
    meta: { relativePath: `_metadata/${file.name}`, role: "metadata" },
  });
});

async function request(url, options = {}) {
  const response = await fetch(url, {
    credentials: "same-origin",
    ...options,
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-CSRFToken": csrf,
      ...(options.headers || {}),
    },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || body.title || response.statusText);
  return body;
}

function description() {
  const found = {};
  for (const field of form.querySelectorAll("input[id^='dc-'], textarea[id^='dc-']")) {
    if (field.value.trim()) found[field.name] = field.value;
  }
  return found;
}

function deliveryName(files) {
  const typed = document.getElementById("delivery-name").value.trim();
  if (typed) return typed;
  const first = files[0].meta.relativePath;
  if (first.includes("/")) return first.split("/")[0];
  return `upload ${new Date().toISOString().slice(0, 16).replace("T", " ")}`;
}

async function openTransfer(files) {
  const meta = uppy.getFiles().find((f) => f.meta.role === "metadata");
  if (!requestId) requestId = newRequestId();
  return request(form.dataset.createUrl, {
    method: "POST",
    body: JSON.stringify({
      request_id: requestId,
      collection: collection.value,
      name: deliveryName(files),
      description: description(),
      metadata_path: meta ? meta.meta.relativePath : null,
    }),
  });
}

function useTransfer(transfer) {
  current = transfer;
  // the transfer is part of each file's tus fingerprint (with its path, size and date), so
  // identical files of two transfers never resume each other's upload
  uppy.getPlugin("Tus").setOptions({
    endpoint: `${endpointBase}?transfer=${encodeURIComponent(transfer.id)}`,
  });
  uppy.setMeta({ transfer_id: transfer.id });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (busy) return; // a second click while the first submission runs
  busy = true;
  uploadButton.disabled = true;
  try {
    await submit();
  } finally {
    busy = false;
    uploadButton.disabled = false;
  }
});

async function submit() {
  result.replaceChildren();
  refused.clear();
  await adding; // a folder still being added is uploaded whole
  const files = payloadFiles();
  if (!files.length && !(current && current.id)) {
    say(strings.choose);
    return;
  }
  if (!collection.value) {
    say(strings.collection);
    collection.focus();
    return;
  }
  try {
    if (!current) {
      say(strings.creating);
      useTransfer(await openTransfer(files));
    } else {
      useTransfer(current);
    }
    say(format(strings.uploading, { done: "…", total: size(files.reduce((s, f) => s + f.size, 0)) }));
    const outcome = uppy.getFiles().length ? await uppy.upload() : null;
    if (outcome && outcome.failed && outcome.failed.length) {
      const others = outcome.failed.filter((f) => !refused.has(f.id));
      if (leaveOutRefused(outcome.failed)) {
        if (others.length) say(`${strings.refused} ${strings.uploadFailed}`);
      } else {
        say(strings.uploadFailed);
      }
      return;
    }
    say(strings.completing);
    const transfer = await request(`${form.dataset.transferUrl.replace("TRANSFER", current.id)}/complete`, {
      method: "POST",
      body: "{}",
    });
    await follow(transfer.status_url, transfer.page_url);
  } catch (error) {
    say(`${strings.error} ${error.message}`);
  }
}

function postForm(action, label, className) {
  const f = document.createElement("form");
  f.method = "post";
  f.action = action;
  f.className = "inline";
  const token = document.createElement("input");
  token.type = "hidden";
  token.name = "csrf_token";
  token.value = csrf;
  const button = document.createElement("button");
  button.type = "submit";
  button.textContent = label;
  if (className) button.className = className;
  f.append(token, button);
  return f;
}

function render(status, pageUrl) {
  const job = status.job;
  if (status.phase === "queued") say(strings.queued);
  if (status.phase === "running" && job) {
    say(format(strings.running, { done: job.files_done, total: job.files_total ?? "…" }));
    if (job.bytes_total) bar.value = (100 * job.bytes_done) / job.bytes_total;
  }
  if (status.phase === "succeeded") {
    uppy.cancelAll();
    const packages = status.packages;
    const allDuplicates = packages.length > 0 && packages.every((p) => p.duplicate);
    say(allDuplicates ? strings.alreadyPreserved : strings.succeeded);
    bar.value = 100;
    const list = document.createElement("ul");
    for (const p of packages) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = p.url;
      a.textContent = `${strings.package} ${p.id.slice(0, 8)}`;
      if (p.duplicate) li.append(`${strings.preservedAs} `);
      li.append(a);
      list.append(li);
    }
    result.replaceChildren(list);
    // a resumed upload that is now ingested is no longer unfinished
    const row = document.getElementById(`unfinished-${status.transfer.id}`);
    if (row) row.remove();
    if (status.description_not_applied) {
      const note = document.createElement("p");
      note.textContent = strings.descriptionNotApplied;
      result.append(note);
    }
    current = null;
    requestId = null;
    return true;
  }
  if (status.phase === "failed") {
    say(strings.failed);
    const table = document.createElement("table");
    const body = document.createElement("tbody");
    for (const p of status.problems) {
      const row = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = p.path || "—";
      const td = document.createElement("td");
      td.textContent = p.message;
      row.append(th, td);
      body.append(row);
    }
    table.append(body);
    const actions = document.createElement("div");
    actions.className = "actions";
    const base = pageUrl.replace(/\/page$/, "");
    actions.append(
      postForm(`${base}/retry`, strings.tryAgain),
      postForm(`${base}/discard`, strings.discard || "Discard", "danger"),
    );
    const details = document.createElement("a");
    details.href = pageUrl;
    details.textContent = strings.details;
    actions.append(details);
    result.replaceChildren(table, actions);
    return true;
  }
  return false;
}

// follows the ingest until it succeeds or fails (the button stays disabled meanwhile)
function follow(statusUrl, pageUrl) {
  bar.hidden = false;
  bar.value = 0;
  return new Promise((resolve) => {
    const tick = async () => {
      try {
        const status = await request(statusUrl, { method: "GET" });
        if (render(status, pageUrl)) {
          resolve();
          return;
        }
      } catch (error) {
        say(`${strings.error} ${error.message}`);
      }
      setTimeout(tick, 1500);
    };
    tick();
  });
}

// "Resume": the unfinished transfer's files that already arrived are skipped when the same
// folder is chosen again; the others resume from the server's offset (tus fingerprint)
for (const button of document.querySelectorAll("button.resume")) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      const transfer = await request(form.dataset.transferUrl.replace("TRANSFER", button.dataset.transferId), { method: "GET" });
      arrived = new Set(transfer.uploads.filter((u) => u.complete).map((u) => `${u.relative_path}\u0000${u.length}`));
      skipped = 0;
      useTransfer(transfer);
      collection.value = button.dataset.collection;
      document.getElementById("delivery-name").value = transfer.name;
      // the description given when the upload began (its title, ...) is shown again
      for (const [name, values] of Object.entries(transfer.description || {})) {
        const field = form.querySelector(`#dc-${name}`);
        if (field && !field.value.trim()) field.value = [].concat(values).join("\n");
      }
      say(format(strings.resuming, { name: transfer.name }));
      document.getElementById("pick-folder").focus();
    } catch (error) {
      say(`${strings.error} ${error.message}`);
    }
  });
}
