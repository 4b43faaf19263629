// Uploads a file with tus-js-client and reports how it ended, refusals included, for the
// events and scanning tests:
//
//   node tus-events.mjs --endpoint URL --token TOKEN --file PATH
//
// Prints one JSON line: {"status": "done"|"error", "url", "fileId", "httpStatus", "body",
// "requests"} where requests counts every request tus-js-client sent (a retry adds one).
import fs from 'node:fs';
import * as tus from 'tus-js-client';

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

const a = args(process.argv.slice(2));
const size = fs.statSync(a.file).size;
let fileId = null;
let requests = 0;

const upload = new tus.Upload(fs.createReadStream(a.file), {
  endpoint: a.endpoint,
  uploadSize: size,
  // Retries are on, as an application would have them: a refusal must stop them by itself.
  retryDelays: [0, 300, 600, 1200],
  headers: { Authorization: 'Bearer ' + a.token },
  metadata: { filename: a.name || 'upload.bin', filetype: 'application/octet-stream' },
  storeFingerprintForResuming: false,
  onBeforeRequest() { requests++; },
  onAfterResponse(req, res) {
    const id = res.getHeader('Coffer-File-Id');
    if (id) fileId = id;
  },
  onError(err) {
    const res = err.originalResponse;
    console.log(JSON.stringify({ status: 'error', url: upload.url, fileId, requests,
      httpStatus: res ? res.getStatus() : 0, body: res ? res.getBody() : String(err) }));
    process.exit(0);
  },
  onSuccess() {
    console.log(JSON.stringify({ status: 'done', url: upload.url, fileId, requests, httpStatus: 0, body: '' }));
    process.exit(0);
  },
});
upload.start();
