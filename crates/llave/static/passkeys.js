// Passkeys (WebAuthn) for llave's pages: the one script, loaded only where a passkey
// button is. Options come from the server as JSON with base64url binary fields; answers go
// back as a form (with the CSRF token) holding the credential as JSON.
"use strict";
(function () {
  // Without WebAuthn the passkey buttons stay hidden and the text saying what to do
  // instead stays shown; with it, the buttons appear and that text goes.
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  document.querySelectorAll("[data-passkey-missing]").forEach(function (el) { el.hidden = true; });
  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }
  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function decodeList(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: fromB64url(c.id) }); });
  }
  function post(url, fields) {
    var body = new URLSearchParams(fields);
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (response) {
      return response.json().catch(function () {
        // Not JSON (an error page, e.g. an expired form): say the status.
        throw new Error(response.status + " " + response.statusText);
      }).then(function (json) {
        if (!response.ok) throw new Error(json.error || response.statusText);
        return json;
      });
    });
  }
  function showError(button, message) {
    var box = button.parentNode.parentNode.querySelector("[data-passkey-error]") ||
      document.querySelector("[data-passkey-error]");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
    button.disabled = false;
  }
  function credentialJson(cred, attestation) {
    var r = cred.response, response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (attestation) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: response,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    });
  }
  function authenticate(button) {
    var base = button.getAttribute("data-passkey"), csrf = button.getAttribute("data-csrf");
    button.disabled = true;
    post(base + "/begin", { csrf_token: csrf }).then(function (start) {
      var o = start.options.publicKey;
      var publicKey = Object.assign({}, o, {
        challenge: fromB64url(o.challenge),
        allowCredentials: decodeList(o.allowCredentials)
      });
      return navigator.credentials.get({ publicKey: publicKey }).then(function (cred) {
        return post(base + "/finish", {
          csrf_token: csrf,
          ceremony: start.ceremony,
          credential: credentialJson(cred, false),
          next: button.getAttribute("data-next") || ""
        });
      });
    }).then(function (done) {
      window.location.assign(done.redirect);
    }).catch(function (error) {
      showError(button, button.getAttribute("data-error") + " (" + error.message + ")");
    });
  }
  function register(button) {
    var base = button.getAttribute("data-passkey-register"), csrf = button.getAttribute("data-csrf");
    var nameField = document.getElementById("passkey-name");
    button.disabled = true;
    post(base + "/begin", { csrf_token: csrf }).then(function (start) {
      var o = start.options.publicKey;
      var publicKey = Object.assign({}, o, {
        challenge: fromB64url(o.challenge),
        user: Object.assign({}, o.user, { id: fromB64url(o.user.id) }),
        excludeCredentials: decodeList(o.excludeCredentials)
      });
      return navigator.credentials.create({ publicKey: publicKey }).then(function (cred) {
        return post(base + "/finish", {
          csrf_token: csrf,
          ceremony: start.ceremony,
          credential: credentialJson(cred, true),
          name: nameField ? nameField.value : ""
        });
      });
    }).then(function (done) {
      window.location.assign(done.redirect);
    }).catch(function (error) {
      showError(button, button.getAttribute("data-error") + " (" + error.message + ")");
    });
  }
  document.querySelectorAll("[data-passkey-only]").forEach(function (el) { el.hidden = false; });
  document.querySelectorAll("[data-passkey]").forEach(function (button) {
    button.addEventListener("click", function () { authenticate(button); });
  });
  document.querySelectorAll("[data-passkey-register]").forEach(function (button) {
    button.addEventListener("click", function () { register(button); });
  });
})();
