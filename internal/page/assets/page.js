// conndiag listen's check page: open WebSocket connections from this
// browser, record what a page can see of them, post it to the server and
// show the verdict it sends back. The page gives up on its own timer: a
// browser itself waits up to 240 s on a port that never answers.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("cfg").textContent);
  var result = document.getElementById("result");
  var attempts = []; // in the order they were made
  var holds = 0; // attempts whose connections are being held open

  function now() { return performance.now(); }
  function cut(s, n) { s = String(s == null ? "" : s); return s.length > n ? s.slice(0, n) : s; }

  // open makes one attempt and resolves once it is decided: open (and the
  // whoami echo back, or a second later), failed, thrown, or given up.
  function open(t) {
    var a = {token: t.token, url: t.url, hold_url: t.hold_url, events: [], gave_up: false, deaths: [], held_ms: 0, ws: null, openAt: 0};
    attempts.push(a);
    return new Promise(function (resolve) {
      var t0 = now(), settled = false, timer = 0, echo = 0;
      function settle() { if (!settled) { settled = true; clearTimeout(timer); clearTimeout(echo); resolve(a); } }
      var ws;
      try {
        ws = new WebSocket(t.url);
      } catch (e) {
        a.thrown = cut(e && e.name || "Error", 64);
        a.thrown_msg = cut(e && e.message, 300);
        settle();
        return;
      }
      a.ws = ws;
      timer = setTimeout(function () {
        if (ws.readyState === WebSocket.CONNECTING) {
          a.gave_up = true;
          ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
          try { ws.close(); } catch (e) { /* still connecting */ }
          a.ws = null;
          settle();
        }
      }, cfg.timeout_ms);
      ws.onopen = function () {
        a.events.push({type: "open", ms: now() - t0});
        a.openAt = now();
        try { ws.send("whoami"); } catch (e) { /* closing already */ }
        echo = setTimeout(settle, 1000);
      };
      ws.onmessage = function () {
        if (!a.events.some(function (e) { return e.type === "message"; })) {
          a.events.push({type: "message", ms: now() - t0});
        }
        settle();
      };
      ws.onerror = function () {
        if (!settled && !a.events.some(function (e) { return e.type === "error"; })) {
          a.events.push({type: "error", ms: now() - t0});
        }
      };
      ws.onclose = function (ev) {
        a.ws = null;
        if (!settled) {
          a.events.push({type: "close", ms: now() - t0, code: ev.code, reason: cut(ev.reason, 123), clean: ev.wasClean});
          settle();
        } else if (a.openAt) {
          died(a, ev);
        }
      };
    });
  }

  // died records a held connection that closed by itself, and reports it.
  function died(a, ev) {
    if (a.deaths.length < 16 && !a.held_ms) {
      a.deaths.push({age_ms: now() - a.openAt, code: ev.code, clean: ev.wasClean});
    }
    ended(a);
    post();
  }

  function body() {
    return JSON.stringify({
      session: cfg.session,
      holding: holds > 0,
      attempts: attempts.map(function (a) {
        var o = {token: a.token, url: a.url, events: a.events, gave_up: a.gave_up, deaths: a.deaths};
        if (a.thrown) { o.thrown = a.thrown; o.thrown_msg = a.thrown_msg || ""; }
        if (a.openAt) { o.held_ms = a.held_ms || (a.holdStart ? now() - a.holdStart : 0); }
        return o;
      })
    });
  }

  // post sends the report and shows the answer. Posts go one after the
  // other, each with what is known when it is sent.
  var chain = Promise.resolve();
  function post() {
    chain = chain.then(send, send);
    return chain;
  }

  function send() {
    return fetch(cfg.report_url, {method: "POST", headers: {"Content-Type": "application/json"}, body: body(), credentials: "omit"})
      .then(function (r) { return r.text().then(function (t) { if (!r.ok) { throw new Error(t || r.status); } return t; }); })
      .then(function (html) {
        result.innerHTML = html;
        if (!document.body.dataset.verdictMs) { document.body.dataset.verdictMs = String(Math.round(now())); }
        document.body.dataset.state = "done";
      })
      .catch(function (e) {
        var p = document.createElement("p");
        p.className = "warn";
        p.textContent = cfg.texts.report_failed + " " + cut(e && e.message, 300);
        result.appendChild(p);
        document.body.dataset.state = "failed";
      });
  }

  // hold keeps an open connection idle, opens a second one to the same
  // endpoint a few seconds later (a timer on the path kills both at the
  // same age), and reports each that dies. The hold ends after hold_ms, or
  // once both have died.
  function hold(a) {
    if (!a.ws || !a.openAt || a.holdStart || cfg.hold_ms <= 0) { return; }
    holds++;
    a.holdStart = now();
    a.second = setTimeout(function () {
      a.second = 0;
      if (a.held_ms) { return; }
      var ws, at = 0;
      try { ws = new WebSocket(a.hold_url || a.url); } catch (e) { ended(a); return; }
      ws.onopen = function () { at = now(); };
      ws.onclose = function (ev) {
        a.ws2 = null;
        if (at && !a.held_ms && a.deaths.length < 16) {
          a.deaths.push({age_ms: now() - at, code: ev.code, clean: ev.wasClean});
        }
        ended(a);
        post();
      };
      a.ws2 = ws;
    }, 5000);
    a.done = setTimeout(function () { finish(a); post(); }, cfg.hold_ms);
  }

  // ended finishes a hold when nothing of it is left open.
  function ended(a) {
    if (a.holdStart && !a.held_ms && !a.second && !a.ws && !a.ws2) { finish(a); }
  }

  // finish ends an attempt's hold and closes what is still open.
  function finish(a) {
    if (!a.holdStart || a.held_ms) { return; }
    a.held_ms = now() - a.holdStart;
    holds--;
    clearTimeout(a.second);
    clearTimeout(a.done);
    a.second = 0;
    [a.ws, a.ws2].forEach(function (w) {
      if (w) { w.onclose = null; try { w.close(1000); } catch (e) { /* gone */ } }
    });
    a.ws = a.ws2 = null;
  }

  function start() {
    if (!cfg.targets.length) { return; }
    Promise.all(cfg.targets.map(open)).then(function (as) { as.forEach(hold); }).then(post);
  }

  document.getElementById("own").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var err = document.getElementById("form-error");
    var url = document.getElementById("url").value.trim();
    err.hidden = true;
    if (!/^wss?:\/\//i.test(url)) {
      err.textContent = cfg.texts.bad_scheme;
      err.hidden = false;
      return;
    }
    document.body.dataset.state = "testing";
    var clickAt = now();
    fetch(cfg.prepare_url, {method: "POST", headers: {"Content-Type": "application/json"}, credentials: "omit",
      body: JSON.stringify({session: cfg.session, url: url})})
      .then(function (r) { return r.json(); })
      .then(function (t) {
        if (t.error) { err.textContent = t.error; err.hidden = false; document.body.dataset.state = "done"; return; }
        return open(t).then(function (a) { hold(a); return post(); })
          .then(function () { document.body.dataset.typedMs = String(Math.round(now() - clickAt)); });
      })
      .catch(function (e) { err.textContent = cfg.texts.report_failed + " " + cut(e && e.message, 300); err.hidden = false; });
  });

  start();
})();
