// The knowledge-base suggestions while the person types: debounced, built with textContent
// (never innerHTML), from our own origin only (the page's CSP allows nothing else).
(function () {
  "use strict";
  var form = document.getElementById("web-form");
  if (!form) { return; }
  var desk = form.dataset.desk, lang = form.dataset.lang;
  var box = document.getElementById("suggestions");
  var list = document.getElementById("suggestion-list");
  var timer = null, last = "";

  function show(articles) {
    list.replaceChildren();
    articles.forEach(function (article) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = article.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = article.title;
      link.className = "suggestion";
      item.appendChild(link);
      list.appendChild(item);
    });
    box.hidden = articles.length === 0;
  }

  function ask() {
    var q = (form.elements.subject.value + " " + form.elements.message.value).trim();
    if (q.length < 3 || q === last) { return; }
    last = q;
    var url = "/form/" + encodeURIComponent(desk) + "/suggest?lang=" + encodeURIComponent(lang) +
      "&q=" + encodeURIComponent(q.slice(0, 2000));
    fetch(url, { credentials: "omit" })
      .then(function (answer) { return answer.ok ? answer.json() : { articles: [] }; })
      .then(function (data) { show(data.articles || []); })
      .catch(function () { show([]); });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(ask, 400);
  }
  form.elements.subject.addEventListener("input", later);
  form.elements.message.addEventListener("input", later);
})();
