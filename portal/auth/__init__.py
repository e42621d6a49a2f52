"""Sign-in, sessions and passwords."""
