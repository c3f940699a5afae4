// The console's only script (no inline script anywhere: the CSP forbids it).
// - htmx requests carry the session's CSRF token in a header.
// - Keyboard: j/k next/previous ticket, c confirm, x change, r reply.
"use strict";

document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  }
});

function rows() {
  return Array.prototype.slice.call(document.querySelectorAll("tr.ticket-row"));
}

function selected() {
  return document.querySelector("tr.ticket-row.selected");
}

function select(row) {
  var current = selected();
  if (current) current.classList.remove("selected");
  if (row) {
    row.classList.add("selected");
    row.scrollIntoView({ block: "nearest" });
    sessionStorage.setItem("triage-selected", row.id);
  }
}

function move(step) {
  var all = rows();
  if (!all.length) return;
  var index = all.indexOf(selected());
  var next = index < 0 ? 0 : Math.min(Math.max(index + step, 0), all.length - 1);
  select(all[next]);
}

function typing(target) {
  var name = target && target.tagName;
  return name === "INPUT" || name === "TEXTAREA" || name === "SELECT" || (target && target.isContentEditable);
}

document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  var row = selected();
  var onTicket = document.getElementById("reply-text");
  switch (event.key) {
    case "j": move(1); break;
    case "k": move(-1); break;
    case "c":
      if (row) {
        var confirm = row.querySelector("button.confirm");
        if (confirm) confirm.click();
      } else if (onTicket) {
        var button = document.getElementById("confirm");
        if (button) button.click();
      }
      break;
    case "x":
      if (row) {
        var details = row.querySelector("details.change");
        if (details) {
          details.open = true;
          details.querySelector("select").focus();
        }
      } else if (onTicket) {
        document.getElementById("change-category").focus();
      }
      break;
    case "r":
      if (row) {
        window.location.href = row.getAttribute("data-href") + "#reply";
      } else if (onTicket) {
        onTicket.focus();
      }
      break;
    default: return;
  }
  event.preventDefault();
});

document.addEventListener("htmx:afterSwap", function (event) {
  var id = sessionStorage.getItem("triage-selected");
  var row = id && document.getElementById(id);
  if (row) row.classList.add("selected");
});

document.addEventListener("DOMContentLoaded", function () {
  if (window.location.hash === "#reply") {
    var reply = document.getElementById("reply-text");
    if (reply) reply.focus();
  }
  var all = rows();
  if (all.length) select(all[0]);
});
