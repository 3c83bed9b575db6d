"""Revision files (a package only so that they ship in the wheel; Alembic skips this file)."""
