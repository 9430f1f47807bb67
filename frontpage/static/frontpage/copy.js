// The front page's Copy buttons: `data-copy` names the element whose text goes to the clipboard.
// Loaded from the project's own static files (the Content-Security-Policy allows no inline script).
"use strict";

function selectContents(element) {
  if (typeof element.select === "function") {
    element.select();
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

async function copyText(element) {
  const text = element.value !== undefined ? element.value : element.textContent;
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (error) {
    // No clipboard API (a page on plain http off loopback): select it, as copying by hand would.
    selectContents(element);
    return document.execCommand("copy");
  }
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) {
    return;
  }
  const source = document.getElementById(button.dataset.copy);
  const copied = await copyText(source);
  button.dataset.copied = copied ? "yes" : "no";
  button.textContent = copied ? "Copied" : "Selected: press Ctrl+C";
  window.setTimeout(() => {
    button.textContent = "Copy";
  }, 2500);
});
