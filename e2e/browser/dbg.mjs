import { chromium } from 'playwright-core'
import http from 'node:http'
const mk = (h) => new Promise(r => { const s = http.createServer(h).listen(0, '127.0.0.1', () => r(s)) })
const b2 = await mk((req, res) => {
  if (req.url === '/x.js') { res.setHeader('content-type', 'text/javascript'); res.end(`
const i = document.createElement('input'); i.setAttribute('type','file'); i.setAttribute('id','f'); i.setAttribute('multiple',''); 
i.addEventListener('change', () => { console.log('change', i.files.length); i.value = '' })
document.getElementById('d').appendChild(i)`); return }
  res.setHeader('content-type', 'text/html');
  if (process.env.COOP) res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
  res.end(`<!doctype html><div id=d></div><script src="/x.js"></script>`) })
const a = await mk((req, res) => { res.statusCode = 303; res.setHeader('Location', `http://127.0.0.1:${b2.address().port}/cb`); res.end() })
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] })
const p = await b.newPage()
p.on('console', m => console.log('page:', m.text()))
await p.goto(`http://127.0.0.1:${b2.address().port}/`)
await p.goto(`http://127.0.0.1:${a.address().port}/`)
await p.locator('#f').setInputFiles(['/tmp/TestWebPage999/004/quarterly report.pdf', '/tmp/TestWebPage999/004/notes ✓.txt'])
await p.waitForTimeout(500)
await b.close(); a.close(); b2.close()
