// The admin's client form: the secret only matters to confidential clients, so its section is
// hidden while "Public" is chosen. Without JavaScript the section simply stays visible.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const secret = document.getElementById("id_client_secret");
  const radios = document.querySelectorAll('input[name="client_type"]');
  if (!secret || radios.length === 0) {
    return;
  }
  const section = secret.closest("fieldset");
  const update = () => {
    const chosen = document.querySelector('input[name="client_type"]:checked');
    section.hidden = chosen !== null && chosen.value === "public";
  };
  radios.forEach((radio) => radio.addEventListener("change", update));
  update();
});
