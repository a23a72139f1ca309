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

// The buy page: the total follows the chosen quantity and shipping option as they change, and
// the form carries that total, so the node places exactly the order shown (it refuses another).
var PICONERO = BigInt("1000000000000");

function piconero(text) {
  return /^[0-9]{1,20}$/.test(text || "") ? BigInt(text) : BigInt(0);
}

function xmrText(amount) {
  var frac = (amount % PICONERO).toString().padStart(12, "0").replace(/0+$/, "");
  while (frac.length < 2) frac += "0";
  return (amount / PICONERO).toString() + "." + frac;
}

function liveTotal(form) {
  var price = piconero(form.getAttribute("data-price"));
  var fee = piconero(form.getAttribute("data-fee"));
  var show = function (id, text) {
    var node = document.getElementById(id);
    if (node) node.textContent = text;
  };
  var update = function () {
    var field = form.querySelector("input[name=quantity]");
    var count = Math.max(1, parseInt(field ? field.value : "1", 10) || 1);
    if (field && field.max) count = Math.min(count, parseInt(field.max, 10) || count);
    var quantity = BigInt(count);
    var chosen = form.querySelector("input[name=shipping]:checked");
    var shipping = chosen ? piconero(chosen.getAttribute("data-cost")) : BigInt(0);
    var subtotal = price * quantity + shipping;
    var total = xmrText(subtotal + fee) + " XMR";
    show("buy-price", xmrText(price) + " XMR" + (count > 1 ? " × " + count : ""));
    show("buy-shipping", xmrText(shipping) + " XMR");
    show("buy-subtotal", xmrText(subtotal) + " XMR");
    show("buy-total", total);
    show("buy-button", "Buy for " + total);
    form.querySelector("input[name=expected_total]").value = xmrText(subtotal);
  };
  form.addEventListener("change", update);
  form.addEventListener("input", update);
  var button = document.getElementById("buy-update");
  if (button) button.hidden = true;  // the total is always current
}

// The arbiter's decision: what each side will receive, the fee taken from the larger share
// (the rule the wallets enforce; see docs/specifications/escrow.md).
function parseXmr(text) {
  var m = /^\s*([0-9]{1,9})(?:[.,]([0-9]{1,12}))?\s*$/.exec(text || "");
  if (!m) return null;
  return BigInt(m[1]) * PICONERO + BigInt((m[2] || "").padEnd(12, "0") || "0");
}

function liveSplit(input) {
  var note = document.getElementById("decide-split");
  var funded = piconero(input.getAttribute("data-funded"));
  var fee = piconero(input.getAttribute("data-fee"));
  var rule = note ? note.textContent : "";
  input.addEventListener("input", function () {
    var toBuyer = parseXmr(input.value);
    if (!note) return;
    if (toBuyer === null || toBuyer > funded) {
      note.textContent = rule;
      return;
    }
    var toSeller = funded - toBuyer;
    var buyerPays = toBuyer >= toSeller;
    var about = fee > BigInt(0) ? "about " : "";
    var buyerGets = buyerPays && fee > BigInt(0) ? toBuyer - fee : toBuyer;
    var sellerGets = !buyerPays && fee > BigInt(0) ? toSeller - fee : toSeller;
    note.textContent = "The buyer receives " + (buyerPays ? about : "") + xmrText(buyerGets) +
      " XMR and the seller " + (buyerPays ? "" : about) + xmrText(sellerGets) + " XMR: the " +
      "payout's network fee" + (fee > BigInt(0) ? " (about " + xmrText(fee) + " XMR)" : "") +
      " comes out of the " + (buyerPays ? "buyer" : "seller") + "'s share.";
  });
}

document.addEventListener("DOMContentLoaded", function () {
  var decide = document.getElementById("to-buyer");
  if (decide && decide.hasAttribute("data-funded")) liveSplit(decide);
  var buy = document.getElementById("buy-confirm");
  if (buy && buy.hasAttribute("data-price")) liveTotal(buy);
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
