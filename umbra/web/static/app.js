// Umbra: the only script of the web app. No network requests; progressive enhancement only.
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

document.addEventListener("DOMContentLoaded", function () {
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
