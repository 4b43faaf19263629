// Uploads a file to a Coffer file node with tus-js-client, as an application would.
//
//   node tus-upload.mjs --endpoint URL --token TOKEN --file PATH [--chunk-size BYTES]
//                       [--abort-after BYTES] [--upload-url URL]
//   node tus-upload.mjs --endpoint URL --request SHORT_ID [--password PW] [--uploader NAME] ...
//
// --request uploads without an account through a file request (Coffer-Request header, the
// request's password in Coffer-Link-Password, the uploader's name in Upload-Metadata).
// --expect-error prints {"status": "error", "httpStatus"} instead of failing.
//
// --abort-after stops the upload (without terminating it) once that many bytes are sent, as a
// dropped connection would. --upload-url resumes an upload begun elsewhere (through any node).
// Prints one JSON line: {"url", "status": "aborted"|"done", "fileId", "startOffset", "sent"}.
import fs from 'node:fs';
import * as tus from 'tus-js-client';

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

const a = args(process.argv.slice(2));
const size = fs.statSync(a.file).size;
const abortAfter = a['abort-after'] ? Number(a['abort-after']) : Infinity;
let fileId = null;
let startOffset = null;
let sent = 0;

const upload = new tus.Upload(fs.createReadStream(a.file), {
  endpoint: a.endpoint,
  uploadUrl: a['upload-url'] || null,
  uploadSize: size,
  chunkSize: a['chunk-size'] ? Number(a['chunk-size']) : Infinity,
  retryDelays: [0, 500, 1000, 2000],
  headers: a.request
    ? { 'Coffer-Request': a.request, ...(a.password ? { 'Coffer-Link-Password': a.password } : {}) }
    : { Authorization: 'Bearer ' + a.token },
  metadata: {
    filename: a.name || 'big.bin', filetype: 'application/octet-stream',
    ...(a.uploader ? { uploader: a.uploader } : {}),
  },
  storeFingerprintForResuming: false,
  onAfterResponse(req, res) {
    const id = res.getHeader('Coffer-File-Id');
    if (id) fileId = id;
    if (startOffset === null && req.getMethod() === 'PATCH') {
      startOffset = Number(req.getHeader('Upload-Offset'));
    }
  },
  onBeforeRequest(req) {
    if (startOffset === null && req.getMethod() === 'PATCH') {
      startOffset = Number(req.getHeader('Upload-Offset'));
    }
  },
  onProgress(bytesSent) {
    sent = bytesSent;
    if (bytesSent >= abortAfter) {
      upload.abort(false).then(() => {
        console.log(JSON.stringify({ url: upload.url, status: 'aborted', startOffset, sent }));
        process.exit(0);
      });
    }
  },
  onError(err) {
    if (a['expect-error']) {
      const res = err.originalResponse;
      console.log(JSON.stringify({ status: 'error', httpStatus: res ? res.getStatus() : 0 }));
      process.exit(0);
    }
    console.error('tus upload failed: ' + err);
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, status: 'done', fileId, startOffset, sent }));
    process.exit(0);
  },
});
upload.start();
