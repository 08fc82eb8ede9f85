// The web chat's entry: the dev sign-in, then the chat (chat.js) and the page's own controls.

import { devSignIn } from "./api.js";
import { App } from "./chat.js";
import * as view from "./view.js";

const $ = (id) => document.getElementById(id);

async function main() {
  const config = await (await fetch("/config.json")).json();
  const form = $("signin-form");
  const saved = sessionStorage.getItem("chat-name");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    await signIn(config, $("signin-name").value.trim());
  });
  if (saved) await signIn(config, saved);
}

async function signIn(config, name) {
  const error = $("signin-error");
  error.hidden = true;
  $("signin-submit").disabled = true;
  try {
    const session = await devSignIn(name);
    sessionStorage.setItem("chat-name", session.name);
    const app = new App(config, session);
    wire(app);
    $("signin").hidden = true;
    $("app").hidden = false;
    $("me-name").textContent = session.name;
    $("me-avatar").replaceWith(view.avatar(session.user_id, session.name, "large"));
    await app.start();
    window.chat = app; // for poking at from the devtools console
  } catch (e) {
    $("signin").hidden = false;
    $("app").hidden = true;
    error.textContent = e.message;
    error.hidden = false;
  } finally {
    $("signin-submit").disabled = false;
  }
}

function wire(app) {
  const toggle = $("new-channel-toggle");
  const form = $("new-channel-form");
  toggle.addEventListener("click", () => {
    form.hidden = !form.hidden;
    toggle.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) $("new-channel-name").focus();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("new-channel-name").value.trim();
    if (!name) return;
    if (await app.createChannel(name, $("new-channel-public").checked)) {
      form.reset();
      form.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
    }
  });
  form.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      form.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      app.composer.focus();
    }
  });
  $("leave").addEventListener("click", () => app.leave());
  $("gate-join").addEventListener("click", () => app.join(app.current.split(/:(.*)/s)[1]));
  $("banner-close").addEventListener("click", () => view.hideFlash());
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem("chat-name");
    app.client.close();
    location.reload();
  });
}

main();
