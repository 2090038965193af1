"""Taking baked explorables out of the served site: the offline copy (pages read from file://) and standalone
HTML files. Nothing here computes numbers; it packages finished payloads with the widgets' assets."""
