// Uploads a file to a Coffer file node with tus-js-client, as an application would.
//
//   node tus-upload.mjs --endpoint URL --token TOKEN --file PATH [--chunk-size BYTES]
//                       [--abort-after BYTES] [--upload-url URL]
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
  headers: { Authorization: 'Bearer ' + a.token },
  metadata: { filename: 'big.bin', filetype: 'application/octet-stream' },
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
    console.error('tus upload failed: ' + err);
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, status: 'done', fileId, startOffset, sent }));
    process.exit(0);
  },
});
upload.start();
