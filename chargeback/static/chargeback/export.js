'use strict';
// django-import-export's export page: "Select all" without its inline onchange attribute (CSP).
document.querySelectorAll('input.select-toggle').forEach(function (toggle) {
    toggle.addEventListener('change', function (event) {
        if (typeof window.onSelectToggleChange === 'function') {
            window.onSelectToggleChange(event);
        }
    });
});
