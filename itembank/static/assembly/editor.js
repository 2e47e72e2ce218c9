// Live line counts for the blueprint editor: posts the YAML (debounced) and fills the table.
(function () {
  const form = document.getElementById("assembly-form");
  if (!form) return;
  const area = document.getElementById("spec");
  const body = document.querySelector("#assembly-lines tbody");
  const token = form.querySelector("input[name=csrf_token]").value;
  let timer = null;
  function refresh() {
    const data = new FormData();
    data.append("spec", area.value);
    fetch(form.dataset.linesUrl, { method: "POST", body: data, headers: { "X-CSRFToken": token } })
      .then((r) => (r.ok ? r.json() : null))
      .then((json) => {
        if (!json) return;
        body.replaceChildren();
        for (const line of json.lines) {
          const tr = document.createElement("tr");
          for (const v of [line.line, line.label, line.min ?? "", line.max ?? "", line.bank]) {
            const td = document.createElement("td");
            td.textContent = String(v);
            tr.appendChild(td);
          }
          if (line.min !== null && line.bank < line.min) tr.className = "short";
          body.appendChild(tr);
        }
      });
  }
  area.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 400); });
  refresh();
})();
