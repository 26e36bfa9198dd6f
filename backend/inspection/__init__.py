"""Performance inspection: bay reads and bench tests, SOH by method, grade, credentials."""
