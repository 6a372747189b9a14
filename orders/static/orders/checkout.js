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
  // One order per click: the server also ignores a second post of the same checkout.
  form.addEventListener("submit", function () {
    var button = document.getElementById("place-order");
    if (button) {
      window.setTimeout(function () { button.disabled = true; button.textContent = "Placing your order…"; }, 0);
    }
  });
  var errors = document.getElementById("form-errors");
  if (errors) errors.focus();
})();
