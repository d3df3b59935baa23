"""The PI portal: read-only pages of a PI's statements, charges and projects, for the PI and delegates."""
