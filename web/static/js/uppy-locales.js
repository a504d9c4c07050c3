// Where @uppy/locales' prebuilt files (vendor/uppy/*_*.min.js) put their strings: they add
// themselves to globalThis.Uppy.locales when it exists. ingest.js reads them from there.
globalThis.Uppy = globalThis.Uppy || { locales: {} };
