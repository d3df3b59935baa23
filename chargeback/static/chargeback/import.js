/* The admin's "Import files" page: a drop zone over the ordinary file input, and the source and
   period guessed from the first file name the way the server would. Without JavaScript the
   plain file input and the server-side detection do the same job. No build step. */
(function () {
    "use strict";

    // Python's fnmatch: * any run, ? one character, [seq] and [!seq] sets; the whole name.
    function globToRegExp(pattern) {
        var out = "";
        for (var i = 0; i < pattern.length; i++) {
            var c = pattern.charAt(i);
            if (c === "*") {
                out += ".*";
            } else if (c === "?") {
                out += ".";
            } else if (c === "[") {
                var j = pattern.indexOf("]", i + 2);
                if (j === -1) {
                    out += "\\[";
                } else {
                    var set = pattern.slice(i + 1, j).replace(/\\/g, "\\\\");
                    if (set.charAt(0) === "!") {
                        set = "^" + set.slice(1);
                    } else if (set.charAt(0) === "^") {
                        set = "\\" + set;
                    }
                    out += "[" + set + "]";
                    i = j;
                }
            } else {
                out += c.replace(/[.*+?^${}()|[\]\\\/-]/g, "\\$&");
            }
        }
        return new RegExp("^" + out + "$", "s");
    }

    // The enabled sources one of whose patterns (separated by spaces) match, as detect_sources does.
    function detectSources(name, sources) {
        var lowered = name.toLowerCase();
        return sources.filter(function (source) {
            return source.pattern.toLowerCase().split(/\s+/).some(function (pattern) {
                if (!pattern) {
                    return false;
                }
                try {
                    return globToRegExp(pattern).test(lowered);
                } catch (err) {
                    return false;
                }
            });
        });
    }

    // 2025-01, 2025_01 or 202501, not inside a longer run of digits (as detect_period).
    var PERIOD_IN_NAME = /(?:^|\D)(\d{4})[-_]?(0[1-9]|1[0-2])(?!\d)/;

    function detectPeriod(names) {
        for (var i = 0; i < names.length; i++) {
            var match = PERIOD_IN_NAME.exec(names[i]);
            if (match) {
                return match[1] + "-" + match[2];
            }
        }
        return "";
    }

    function formatSize(bytes) {
        var units = ["bytes", "KB", "MB", "GB"];
        var value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit += 1;
        }
        return (unit ? value.toFixed(1) : String(value)) + " " + units[unit];
    }

    function init() {
        var form = document.getElementById("import-form");
        if (!form) {
            return;
        }
        var input = form.querySelector('input[type="file"]');
        var zone = form.querySelector("[data-dropzone]");
        var hint = form.querySelector("[data-dropzone-hint]");
        var list = form.querySelector("[data-dropzone-list]");
        var status = form.querySelector("[data-detect-status]");
        var source = form.querySelector('select[name="source"]');
        var period = form.querySelector('input[name="period"]');
        var patterns = document.getElementById("import-source-patterns");
        var sources = patterns ? JSON.parse(patterns.textContent) : [];
        if (!input || !zone) {
            return;
        }
        zone.classList.add("is-enhanced");
        if (hint) {
            hint.hidden = false;
        }
        // A value the user chose (or a prefilled "Replace") is never overwritten.
        var auto = { source: source && !source.value, period: period && !period.value };
        if (source) {
            source.addEventListener("change", function () {
                auto.source = false;
            });
        }
        if (period) {
            period.addEventListener("input", function () {
                auto.period = false;
            });
        }

        function show(files) {
            var names = [];
            list.textContent = "";
            for (var i = 0; i < files.length; i++) {
                var item = document.createElement("li");
                item.textContent = files[i].name + " (" + formatSize(files[i].size) + ")";
                list.appendChild(item);
                names.push(files[i].name);
            }
            var notes = [];
            if (names.length && source && auto.source) {
                // Never a guess: two matching sources leave the choice to the person.
                var found = detectSources(names[0], sources);
                source.value = found.length === 1 ? found[0].name : "";
                if (found.length === 1) {
                    notes.push("Source " + found[0].name + " detected from " + names[0] + ".");
                } else if (found.length > 1) {
                    notes.push(names[0] + " matches the patterns of " + found.map(function (s) {
                        return s.name;
                    }).join(" and ") + "; choose the source.");
                } else {
                    notes.push("No source pattern matches " + names[0] + "; choose the source.");
                }
            }
            if (names.length && period && auto.period) {
                var guessed = detectPeriod(names);
                period.value = guessed;
                notes.push(guessed ? "Period " + guessed + " detected from the file name." :
                    "Period: read from the first data row.");
            }
            if (status) {
                status.textContent = notes.join(" ");
            }
        }

        input.addEventListener("change", function () {
            show(input.files);
        });

        ["dragenter", "dragover"].forEach(function (type) {
            zone.addEventListener(type, function (event) {
                event.preventDefault();
                zone.classList.add("is-dragover");
            });
        });
        ["dragleave", "dragend", "drop"].forEach(function (type) {
            zone.addEventListener(type, function () {
                zone.classList.remove("is-dragover");
            });
        });
        zone.addEventListener("drop", function (event) {
            event.preventDefault();
            if (!event.dataTransfer || !event.dataTransfer.files.length) {
                return;
            }
            try {
                input.files = event.dataTransfer.files;
            } catch (err) {
                // A browser that cannot set a file input's files: the chooser still works.
                return;
            }
            show(input.files);
            input.focus();
        });

        var submit = form.querySelector('input[type="submit"]');
        var submitLabel = submit ? submit.value : "";
        var detected = form.querySelector("[data-detected]");
        form.addEventListener("submit", function () {
            // Tell the server which values were guessed here, not chosen: it shows them as
            // detected, and does not keep them if the files must be chosen again.
            if (detected) {
                detected.value = ["source", "period"].filter(function (key) {
                    var field = key === "source" ? source : period;
                    return auto[key] && field && field.value;
                }).join(",");
            }
            if (submit) {
                submit.disabled = true;
                submit.value = submit.getAttribute("data-busy-label") || submit.value;
            }
        });
        // Coming back with the browser's Back button: the form is usable again.
        window.addEventListener("pageshow", function () {
            if (submit) {
                submit.disabled = false;
                submit.value = submitLabel;
            }
        });
        if (input.files && input.files.length) {
            show(input.files);
        }
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", init);
    } else {
        init();
    }
})();
