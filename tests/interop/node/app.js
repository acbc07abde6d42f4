// The Node side of the interop tests: a real express + express-session +
// connect-redis app that answers part of the reference-app contract (v1), so
// that it can share sessions with our Python reference apps through one Redis
// and one secret.
//
// Routes (as in the contract): GET /, GET /session, POST /session?k=v&...,
// POST /session/regenerate, POST /session/destroy. Anything else is a 404,
// after session handling, as in our apps.
//
// Usage:
//   node app.js [--host 127.0.0.1] [--port 0] [--redis redis://127.0.0.1:6379/0]
//               --secret '["s1", "s0"]' [--max-age MS | --max-age none]
//               [--prefix sess:] [--name connect.sid]
// Each flag may be given by environment instead: HOST, PORT, REDIS_URL,
// SESSION_SECRET, COOKIE_MAX_AGE, SESSION_PREFIX, SESSION_NAME (a flag wins).
//
// The session options are fixed where the interop tests need them to match
// our defaults: resave false, saveUninitialized false, rolling false,
// cookie path "/", httpOnly, sameSite "lax", no secure. --max-age none (the
// default) is a browser-session cookie, like our `max_age: null`.
//
// When ready it prints `listening on http://HOST:PORT` (the real port when
// --port 0 was given). It exits when its standard input closes, so a test
// runner that dies cannot leave it behind, and on SIGTERM or SIGINT. A bad
// flag is one line on stderr and exit status 2, as in our apps.
"use strict";

const { parseArgs } = require("node:util");
const express = require("express");
const session = require("express-session");
const { RedisStore } = require("connect-redis");
const { createClient } = require("redis");

// The keys the contract refuses in POST /session: the names of the Session
// object's own properties and methods, which express-session would drop or
// break on, plus __proto__.
const RESERVED_KEYS = new Set([
  "id", "cookie", "req", "touch", "resetMaxAge", "save", "reload",
  "destroy", "regenerate", "__proto__",
]);

function usageError(message) {
  process.stderr.write(`app.js: ${message}\n`);
  process.exit(2);
}

function readConfig() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: "string" },
        port: { type: "string" },
        redis: { type: "string" },
        secret: { type: "string" },
        "max-age": { type: "string" },
        prefix: { type: "string" },
        name: { type: "string" },
      },
      strict: true,
    }));
  } catch (err) {
    usageError(err.message);
  }
  const env = process.env;
  const pick = (flag, variable, fallback) =>
    values[flag] ?? env[variable] ?? fallback;

  const port = Number(pick("port", "PORT", "0"));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    usageError("--port must be a whole number from 0 to 65535");
  }

  const rawSecret = pick("secret", "SESSION_SECRET", undefined);
  if (rawSecret === undefined) usageError("--secret is required");
  let secret;
  try {
    secret = JSON.parse(rawSecret);
  } catch {
    usageError("--secret must be JSON: a string or a list of strings");
  }
  if (typeof secret === "string") secret = [secret];
  if (!Array.isArray(secret) || secret.length === 0 ||
      !secret.every((s) => typeof s === "string" && s !== "")) {
    usageError("--secret must be a non-empty string or list of strings");
  }

  const rawMaxAge = pick("max-age", "COOKIE_MAX_AGE", "none");
  let maxAge = null;
  if (rawMaxAge !== "none") {
    maxAge = Number(rawMaxAge);
    if (!/^[0-9]+$/.test(rawMaxAge) || !Number.isSafeInteger(maxAge)) {
      usageError("--max-age must be whole milliseconds >= 0, or none");
    }
  }

  return {
    host: pick("host", "HOST", "127.0.0.1"),
    port,
    redisUrl: pick("redis", "REDIS_URL", "redis://127.0.0.1:6379/0"),
    secret,
    maxAge,
    prefix: pick("prefix", "SESSION_PREFIX", "sess:"),
    name: pick("name", "SESSION_NAME", "connect.sid"),
  };
}

// The contract's session view. express-session's getters read the clock, so
// max_age is "seconds left now", which is what the contract asks for.
function sessionView(req) {
  const s = req.session;
  if (!s) return { id: null, data: {}, cookie: emptyCookieView() };
  const data = {};
  for (const key of Object.keys(s)) {
    if (key !== "cookie") data[key] = s[key];
  }
  const c = s.cookie;
  const seconds = (ms) => (typeof ms === "number" ? Math.round(ms / 1000) : null);
  return {
    id: req.sessionID,
    data,
    cookie: {
      max_age: seconds(c.maxAge),
      original_max_age: seconds(c.originalMaxAge),
      expires: c.expires ? new Date(c.expires).toUTCString() : null,
    },
  };
}

function emptyCookieView() {
  return { max_age: null, original_max_age: null, expires: null };
}

function buildApp(config, store) {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use(session({
    name: config.name,
    secret: config.secret,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    cookie: {
      path: "/",
      httpOnly: true,
      sameSite: "lax",
      maxAge: config.maxAge,
    },
  }));

  app.get("/", (req, res) => {
    req.session.views = (req.session.views || 0) + 1;
    res.type("text/html").send(
      `<!doctype html>\n<title>views</title>\n<p>views: ${req.session.views}</p>\n`);
  });

  app.get("/session", (req, res) => {
    res.json(sessionView(req));
  });

  app.post("/session", (req, res) => {
    // Read the raw query ourselves: express's parser would turn a repeated
    // key into a list and `a[b]=c` into an object, and the contract wants
    // plain strings, last value wins.
    const query = new URL(req.originalUrl, "http://peer.invalid").searchParams;
    const pairs = [...query];
    const refused = pairs.find(([key]) => RESERVED_KEYS.has(key));
    if (refused) {
      res.status(400).type("text/plain").send(`refused key: ${refused[0]}`);
      return;
    }
    for (const [key, value] of pairs) req.session[key] = value;
    res.json(sessionView(req));
  });

  app.post("/session/regenerate", (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      res.json(sessionView(req));
    });
  });

  app.post("/session/destroy", (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(err);
      res.json({ id: null });
    });
  });

  app.use((req, res) => {
    res.status(404).type("text/plain").send("not found");
  });

  // A store failure while loading, or in an explicit regenerate or destroy,
  // arrives here. (express-session cannot report one in its end-of-request
  // save: the response is already on its way by then.)
  app.use((err, req, res, next) => {
    if (res.headersSent) return next(err);
    res.status(500).type("text/plain").send(`store error: ${err.message}`);
  });

  return app;
}

async function main() {
  const config = readConfig();
  let client = null;
  let server = null;

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 5000).unref();
    if (server === null) process.exit(0);
    // Let requests in flight finish (and their saves reach Redis), but do
    // not wait for idle keep-alive connections.
    server.close(() => {
      client.close().finally(() => process.exit(0));
    });
    server.closeIdleConnections();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();

  // A Redis that cannot be reached at start is fatal (the test would only
  // time out otherwise); once connected, the client reconnects by itself
  // and each call made meanwhile fails its own request.
  let connected = false;
  client = createClient({
    url: config.redisUrl,
    socket: {
      reconnectStrategy: (retries, cause) =>
        connected ? Math.min(retries * 50, 1000) : cause,
    },
  });
  // Without a listener an 'error' event would crash the process.
  client.on("error", (err) => process.stderr.write(`redis: ${err.message}\n`));
  client.on("ready", () => { connected = true; });
  await client.connect();
  if (stopping) return;

  const store = new RedisStore({ client, prefix: config.prefix });
  server = buildApp(config, store).listen(config.port, config.host);
  server.on("listening", () => {
    const { port } = server.address();
    // stdout to a pipe is synchronous on Linux, so this line is flushed
    // by the time write() returns.
    process.stdout.write(`listening on http://${config.host}:${port}\n`);
  });
  server.on("error", (err) => {
    process.stderr.write(`app.js: ${err.message}\n`);
    process.exit(1);
  });
}

main().catch((err) => {
  process.stderr.write(`app.js: ${err.message}\n`);
  process.exit(1);
});
