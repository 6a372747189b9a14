"""Models for this lifecycle phase arrive with its issue."""
