"""Reference plugins of bdcert."""
