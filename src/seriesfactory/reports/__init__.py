"""Human-facing outputs: previews, tables and dashboards."""
