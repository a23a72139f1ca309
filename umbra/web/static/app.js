// Umbra: the only script of the web app. No network requests of its own (it only asks the
// browser to load a photo again); progressive enhancement only.
"use strict";

function showPreviews(input) {
  var target = document.getElementById(input.getAttribute("data-preview"));
  if (!target) return;
  while (target.firstChild) {
    URL.revokeObjectURL(target.firstChild.src || "");
    target.removeChild(target.firstChild);
  }
  Array.prototype.forEach.call(input.files || [], function (file, i) {
    if (!/^image\/(jpeg|png|webp)$/.test(file.type)) return;
    var img = document.createElement("img");
    img.src = URL.createObjectURL(file);
    img.alt = "Preview of image " + (i + 1);
    img.width = 96;
    img.height = 96;
    target.appendChild(img);
  });
}

function copyValue(button) {
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) return;
  var done = function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = "Copy"; }, 1500);
  };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(field.value).then(done, function () {
      field.select();
    });
  } else {
    field.select();
    done();
  }
}

// A listing's photo may still be on its way from the seller's node (the node fetches it when
// the page asks): keep "Loading the photo…" instead of a broken image, and ask again a few
// times before saying that no peer has it.
var PHOTO_TRIES = 6;

function watchPhoto(img) {
  var status = img.parentNode.querySelector(".photo-status");
  var base = img.getAttribute("src");
  var tries = 0;
  var loaded = function () {
    img.classList.remove("waiting");
    if (status) status.hidden = true;
  };
  var failed = function () {
    tries += 1;
    img.classList.add("waiting");
    if (!status) return;
    status.hidden = false;
    if (tries > PHOTO_TRIES) {
      status.textContent = "The photo could not be fetched: neither the seller's node nor a node " +
        "that synced its catalog sent it. Reload the page later.";
      return;
    }
    status.textContent = "Still looking for a peer that has the photo…";
    setTimeout(function () { img.src = base + "?retry=" + tries; }, 2000 * tries);
  };
  img.addEventListener("load", loaded);
  img.addEventListener("error", failed);
  if (img.complete) {
    if (img.naturalWidth > 0) loaded(); else failed();
  }
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("img[data-retry]").forEach(watchPhoto);
  document.querySelectorAll("input[type=file][data-preview]").forEach(function (input) {
    input.addEventListener("change", function () { showPreviews(input); });
  });
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () { copyValue(button); });
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
});
