-- Production PostgreSQL privileges for the portal (see README, "Audit log").
-- Two roles: the owner (owns the schema, runs `flask init-db`) and portal_app (the web app's login).
-- Run this as the owner after every release's migrations:  psql "$OWNER_URL" -f scripts/audit-grants.sql
-- Rename portal_app if your app role is called something else.

GRANT USAGE ON SCHEMA public TO portal_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO portal_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO portal_app;

-- The audit log is append-only for the app: it may add and read events, never change or remove them.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM portal_app;
-- The schema version belongs to the owner alone.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM portal_app;

-- Tables and sequences that later migrations create get the same everyday privileges.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO portal_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO portal_app;
