// express's hello-world, bare or with express-session on its MemoryStore,
// for the benchmark runner (the same routes as ../apps/appargs.py):
//
//     node app.js --port P --sessions none|memory
//
// resave and saveUninitialized are false and the cookie lasts an hour, the
// options our own apps run with.
'use strict';

const express = require('express');

const SECRET = 'a benchmark secret that is long enough to sign';
const BODY = 'hello, world';

function flag(name, fallback) {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : process.argv[at + 1];
}

const port = Number(flag('--port'));
const sessions = flag('--sessions', 'none');
const app = express();
app.set('etag', false);
app.set('x-powered-by', false);

if (sessions === 'memory') {
  const session = require('express-session');
  app.use(session({
    secret: SECRET,
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 3600 * 1000 },
  }));
} else if (sessions !== 'none') {
  console.error(`--sessions ${sessions}: only none and memory`);
  process.exit(2);
}

let counter = 0;

function hello(req, res) {
  const session = sessions === 'none' ? undefined : req.session;
  if (session !== undefined) {
    if (req.path === '/login') {
      session.user = 'someone@example.com';
      session.views = 1;
    } else if (req.path === '/read') {
      void session.user;
    } else if (req.path === '/write') {
      session.n = counter++;
    }
  }
  res.type('text/plain').send(BODY);
}

app.get(['/login', '/ignore', '/read', '/write'], hello);

const server = app.listen(port, '127.0.0.1', () => console.log('ready'));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
