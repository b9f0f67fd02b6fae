/* Jangteo — resumable uploads on the "Upload a new version" page (a form marked
   data-resumable-upload). A file above data-resumable-from goes up in pieces over the tus 1.0.0
   protocol (/api/v1/uploads/, catalog/tus.py); the upload's address is kept in localStorage
   under the file's name, size and date, so choosing the same file again after a dropped
   connection or a reload resumes where the server stands. The finished upload becomes a version
   through the versions API, and the page moves to that version. Smaller files, and browsers
   without JavaScript, post the form as before. */
(function () {
  "use strict";

  var TUS = "1.0.0";

  function base64(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = "";
    bytes.forEach(function (b) { binary += String.fromCharCode(b); });
    return btoa(binary);
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_m, key) { return values[key]; });
  }

  function Upload(form, file) {
    this.form = form;
    this.file = file;
    this.data = form.dataset;
    this.csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    this.key = ["jangteo-upload", this.data.dataset, file.name, file.size, file.lastModified].join(":");
    this.box = form.querySelector(".resumable-progress");
    this.bar = this.box.querySelector("progress");
    this.text = this.box.querySelector("[data-resumable-text]");
    this.error = form.querySelector("[data-resumable-error]");
  }

  Upload.prototype.headers = function (extra) {
    var headers = { "Tus-Resumable": TUS, "X-CSRFToken": this.csrf, Accept: "application/json" };
    Object.keys(extra || {}).forEach(function (k) { headers[k] = extra[k]; });
    return headers;
  };

  Upload.prototype.request = function (url, method, extra, body) {
    return fetch(url, { method: method, headers: this.headers(extra), body: body, credentials: "same-origin" });
  };

  Upload.prototype.fail = function (response) {
    var self = this;
    var show = function (detail) {
      self.error.textContent = (detail ? detail + " " : "") + self.data.msgFailed;
      self.error.hidden = false;
      self.form.querySelector("button[type=submit]").disabled = false;
    };
    if (response && response.json) {
      return response.json().then(function (body) { show(body.detail); }, function () { show(""); });
    }
    show("");
    return Promise.resolve();
  };

  Upload.prototype.show = function (offset) {
    var mb = function (n) { return (n / 1048576).toFixed(n < 10485760 ? 2 : 1); };
    this.bar.value = offset / this.file.size;
    this.text.textContent = fill(this.data.msgProgress, {
      percent: Math.floor((100 * offset) / this.file.size) + "%", sent: mb(offset), total: mb(this.file.size)
    });
  };

  /* The upload's address and where it stands: an earlier one of this file, else a new one. */
  Upload.prototype.open = function () {
    var self = this;
    var earlier = localStorage.getItem(this.key);
    var create = function () {
      var meta = "dataset " + base64(self.data.dataset) + ",filename " + base64(self.file.name);
      return self.request(self.data.uploadsUrl, "POST", {
        "Upload-Length": String(self.file.size), "Upload-Metadata": meta
      }).then(function (response) {
        if (response.status !== 201) throw response;
        self.url = response.headers.get("Location");
        localStorage.setItem(self.key, self.url);
        return 0;
      });
    };
    if (!earlier) return create();
    return this.request(earlier, "HEAD").then(function (response) {
      if (!response.ok) { localStorage.removeItem(self.key); return create(); }
      self.url = earlier;
      self.text.textContent = self.data.msgResumed;
      return parseInt(response.headers.get("Upload-Offset"), 10);
    });
  };

  Upload.prototype.send = function (offset) {
    var self = this;
    self.show(offset);
    if (offset >= self.file.size) return Promise.resolve();
    var piece = self.file.slice(offset, offset + parseInt(self.data.chunkBytes, 10));
    return self.request(self.url, "PATCH", {
      "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream"
    }, piece).then(function (response) {
      if (response.status === 409) {  // the server stands elsewhere: ask where, go on from there
        return self.request(self.url, "HEAD").then(function (head) {
          if (!head.ok) throw head;
          return self.send(parseInt(head.headers.get("Upload-Offset"), 10));
        });
      }
      if (response.status !== 204) throw response;
      return self.send(parseInt(response.headers.get("Upload-Offset"), 10));
    });
  };

  Upload.prototype.finish = function () {
    var self = this;
    var fields = new FormData(self.form);
    var body = {
      upload: self.url.replace(/\/$/, "").split("/").pop(),
      mode: fields.get("mode") || "replace",
      replace_periods: fields.get("replace_periods") === "on"
    };
    return self.request(self.data.versionsUrl, "POST", { "Content-Type": "application/json" }, JSON.stringify(body))
      .then(function (response) {
        if (response.status !== 202) throw response;
        localStorage.removeItem(self.key);
        return response.json();
      })
      .then(function (version) {
        window.location.assign(self.data.versionUrl.replace(/\/0\/$/, "/" + version.id + "/"));
      });
  };

  Upload.prototype.run = function () {
    var self = this;
    self.error.hidden = true;
    self.box.hidden = false;
    self.form.querySelector("button[type=submit]").disabled = true;
    return self.open()
      .then(function (offset) { return self.send(offset); })
      .then(function () { return self.finish(); })
      .catch(function (problem) { return self.fail(problem); });
  };

  document.querySelectorAll("form[data-resumable-upload]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      var file = input && input.files && input.files[0];
      if (!file || file.size <= parseInt(form.dataset.resumableFrom, 10)) return;  // posted whole
      event.preventDefault();
      if (file.size > parseInt(form.dataset.maxBytes, 10)) {
        var error = form.querySelector("[data-resumable-error]");
        error.textContent = form.dataset.msgTooLarge;
        error.hidden = false;
        return;
      }
      new Upload(form, file).run();
    });
  });
})();
