// Submits a filter picker as soon as a value is chosen; the pages work without this script.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el instanceof HTMLSelectElement && el.dataset.autosubmit === "true" && el.form) {
    el.form.submit();
  }
});
