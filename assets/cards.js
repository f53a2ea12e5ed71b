// Card forms: Stripe.js mounts its card field in a box of ours and confirms a SetupIntent the server started.
// Card numbers go from this page to the payment provider only; the server checks the outcome with the provider.
window.portalCards = (function () {
  const loaded = {};
  let current = null; // {stripe, card} of the form on screen

  function loadScript(url) {
    if (!loaded[url]) {
      loaded[url] = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = url;
        script.onload = resolve;
        script.onerror = function () {
          delete loaded[url];
          reject(new Error("The card form could not be loaded from the payment provider: try again."));
        };
        document.head.appendChild(script);
      });
    }
    return loaded[url];
  }

  function waitFor(selector, timeoutMs) {
    return new Promise(function (resolve, reject) {
      const started = Date.now();
      (function look() {
        const found = document.querySelector(selector);
        if (found) return resolve(found);
        if (Date.now() - started > timeoutMs) return reject(new Error("The card form is not on the page."));
        requestAnimationFrame(look);
      })();
    });
  }

  return {
    // Load Stripe.js from jsUrl and mount a card field into the element matching selector.
    mount: async function (publishableKey, jsUrl, selector) {
      try {
        await loadScript(jsUrl);
        const box = await waitFor(selector, 10000);
        box.replaceChildren();
        const stripe = window.Stripe(publishableKey);
        const card = stripe.elements().create("card");
        card.mount(box);
        current = { stripe: stripe, card: card };
        return { ok: true };
      } catch (error) {
        return { error: error.message || String(error) };
      }
    },
    // Confirm the SetupIntent whose secret the server gave with the card typed in the mounted field.
    confirm: async function (clientSecret) {
      if (!current) return { error: "The card form is not ready: close it and open it again." };
      try {
        const result = await current.stripe.confirmCardSetup(clientSecret, { payment_method: { card: current.card } });
        if (result.error) return { error: result.error.message || "The card was declined." };
        return { ok: true };
      } catch (error) {
        return { error: error.message || String(error) };
      }
    },
  };
})();
