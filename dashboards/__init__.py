"""Grafana dashboards as code, rendered to committed JSON.

The builders live in :mod:`.build` (grafana-foundation-sdk, a dev dependency); this
package itself stays import-light because `trashmon rules` reads its data files.
"""
