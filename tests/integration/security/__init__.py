"""Security tests: tenant isolation of every API route and UI event, roles, sessions, secrets and webhook targets."""
