// Progressive enhancement for the checkout: the form works the same without it.
(function () {
  "use strict";
  var form = document.getElementById("checkout-form");
  if (!form) return;
  var same = form.querySelector("input[name=billing_same]");
  var billing = document.getElementById("billing-fields");
  function syncBilling() {
    if (same && billing) billing.hidden = same.checked;
  }
  if (same) { same.addEventListener("change", syncBilling); syncBilling(); }
  var cardFields = document.getElementById("card-fields");
  function syncPayment() {
    var chosen = form.querySelector("input[name=payment_method]:checked");
    if (cardFields && chosen) cardFields.hidden = chosen.value !== "card";
  }
  form.querySelectorAll("input[name=payment_method]").forEach(function (radio) {
    radio.addEventListener("change", syncPayment);
  });
  syncPayment();

  // The summary (and the delivery options) follow the address and the delivery chosen: the
  // server prices them as placing the order will and sends the parts back as HTML. Without
  // this script the "Update total" button does the same with a page load.
  var summary = document.getElementById("order-summary");
  var delivery = document.getElementById("delivery-options");
  var updateRow = document.getElementById("update-total-row");
  var summaryUrl = form.getAttribute("data-summary-url");
  var ADDRESS = /^(shipping|billing)-(country|postal_code)$/;
  var NOT_SENT = ["card_number", "cvc", "exp_month", "exp_year"]; // never needed for a total
  var asked = 0;
  // The summary request in flight, if any: "Place order" waits for it (see below).
  var pending = null;
  function refreshSummary(addressChanged) {
    var body = new FormData(form);
    NOT_SENT.forEach(function (name) { body.delete(name); });
    body.delete("update_total");
    body.delete("shown_total");
    var ask = ++asked;
    summary.setAttribute("aria-busy", "true");
    var request = fetch(summaryUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("summary: " + response.status);
        return response.json();
      })
      .then(function (parts) {
        if (ask !== asked) return; // an answer to an older change
        // The options change only with the address; re-drawing them as a radio is chosen
        // would take the keyboard focus away from it.
        if (addressChanged && delivery && typeof parts.delivery === "string") {
          delivery.innerHTML = parts.delivery;
        }
        // The summary carries the figures it shows (the hidden shown_total field), so the
        // figures "Place order" posts are always the ones on the screen.
        summary.innerHTML = parts.summary;
      })
      .catch(function () {
        if (updateRow) updateRow.hidden = false; // the button still gets the total
      })
      .then(function () {
        if (ask === asked) {
          summary.removeAttribute("aria-busy");
          pending = null;
        }
      });
    pending = request;
  }
  if (summary && summaryUrl && window.fetch && window.FormData) {
    if (updateRow) updateRow.hidden = true;
    form.addEventListener("change", function (event) {
      var name = event.target && event.target.name;
      if (!name) return;
      if (ADDRESS.test(name)) refreshSummary(true);
      else if (name === "shipping_method") refreshSummary(false);
    });
  }

  // "Place order" pressed while a new total is on its way (an address typed and the button
  // clicked straight away): wait for it. The same total: place the order. Another one: show
  // it and say so, and the next press places the order at it. (Without this the server
  // finds the total changed and shows the page again; it never places at a total not shown.)
  function shownFigures() {
    var field = form.querySelector("input[name=shown_total]");
    return field ? field.value : "";
  }
  function afterNewTotal(before, submitter) {
    if (pending) {
      pending.then(function () { afterNewTotal(before, submitter); });
      return;
    }
    if (shownFigures() === before) {
      if (submitter && form.requestSubmit) form.requestSubmit(submitter);
      else form.submit();
      return;
    }
    var total = document.getElementById("summary-total");
    var notice = document.getElementById("total-changed");
    if (!notice) {
      notice = document.createElement("p");
      notice.id = "total-changed";
      notice.className = "callout callout-warn small";
      notice.setAttribute("role", "alert");
      notice.tabIndex = -1;
      var button = document.getElementById("place-order");
      button.parentNode.insertBefore(notice, button);
    }
    notice.textContent = "The total changed to " + (total ? total.textContent.trim() : "–") +
      ". Please check it and place the order.";
    notice.focus();
  }

  // One order per click: the server also ignores a second post of the same checkout.
  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.name === "update_total") return;
    if (pending) {
      event.preventDefault();
      afterNewTotal(shownFigures(), event.submitter);
      return;
    }
    var notice = document.getElementById("total-changed");
    if (notice) notice.remove();
    var button = document.getElementById("place-order");
    if (button) {
      window.setTimeout(function () { button.disabled = true; button.textContent = "Placing your order…"; }, 0);
    }
  });
  var errors = document.getElementById("form-errors");
  if (errors) errors.focus();
})();
