"""What users read and keep: text, Markdown and JSON renderings, saved plans, export."""
