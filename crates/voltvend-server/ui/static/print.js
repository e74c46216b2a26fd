// Opens the browser's print dialog for a receipt view (80 mm), once it has loaded.
window.addEventListener("load", function () { window.print(); });
